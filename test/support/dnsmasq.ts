/**
 * A real DNS server for tests and benchmarks: dnsmasq on a free loopback
 * port, answering only for the names it is given under `.test` (anything
 * else there is NXDOMAIN). Address records live in a hosts directory that
 * dnsmasq rereads when a file in it changes; SRV records live in the
 * config file, which it reads only at start, so changing them restarts it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';
import { eventually } from './wait.js';

/** Whether DNS suites skip: dnsmasq is missing and this is not CI (where a missing tool fails). */
export const skipDns = (): boolean => dnsmasqUnavailable() !== undefined && process.env.CI !== 'true';

/** Why dnsmasq cannot run here, or undefined when it can. */
export function dnsmasqUnavailable(): string | undefined {
  try {
    execFileSync('sh', ['-c', 'command -v dnsmasq'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'dnsmasq is not installed (apt-get install -y dnsmasq)';
  }
}

/** An SRV record: `name` points at `target` (a name with address records) on `port`. */
export interface SrvRecord {
  readonly name: string;
  readonly target: string;
  readonly port: number;
}

export class Dnsmasq {
  readonly dir: string;
  private readonly hostsDir: string;
  private child: ChildProcess | undefined;
  private srv: readonly SrvRecord[] = [];
  private log = '';

  private constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'distribute-dns-'));
    this.hostsDir = join(this.dir, 'hosts');
    mkdirSync(this.hostsDir);
    // dnsmasq started as root reads files as 'nobody'.
    chmodSync(this.dir, 0o755);
    chmodSync(this.hostsDir, 0o755);
  }

  /** Starts dnsmasq on a free loopback port with the given records. */
  static async start(hosts: Readonly<Record<string, readonly string[]>> = {}, srv: readonly SrvRecord[] = []): Promise<Dnsmasq> {
    // Suites skip where dnsmasq is missing, except under CI=true, where they get here and fail saying why.
    const unavailable = dnsmasqUnavailable();
    if (unavailable) throw new Error(`Cannot run the DNS tests: ${unavailable}`);
    const server = new Dnsmasq(await freePort());
    server.writeHosts(hosts);
    server.srv = srv;
    await server.launch();
    return server;
  }

  /** `127.0.0.1:PORT`, for `servers` / `dnsServers` / `--dns-server`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Replaces every address record (name → addresses); dnsmasq picks it up from the hosts directory. */
  setHosts(hosts: Readonly<Record<string, readonly string[]>>): void {
    this.writeHosts(hosts);
  }

  /** Replaces the SRV records: restarts dnsmasq on the same port. */
  async setSrv(srv: readonly SrvRecord[]): Promise<void> {
    this.srv = srv;
    await this.stop();
    await this.launch();
  }

  /** Whether dnsmasq is running. */
  get running(): boolean {
    return this.child !== undefined;
  }

  async launch(): Promise<void> {
    const conf = join(this.dir, 'dnsmasq.conf');
    // Answer for .test only: names it does not know there are NXDOMAIN, not REFUSED.
    const lines = ['local=/test/', ...this.srv.map((r) => `srv-host=${r.name},${r.target},${r.port}`)];
    writeFileSync(conf, `${lines.join('\n')}\n`, { mode: 0o644 });
    const child = spawn(
      'dnsmasq',
      [
        '--no-daemon',
        `--port=${this.port}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        '--pid-file=',
        '--log-facility=-',
        `--conf-file=${conf}`,
        `--hostsdir=${this.hostsDir}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    this.log = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.log += chunk));
    child.once('error', (error) => (this.log += `\n${error.message}`));
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await eventually(() => this.log.includes('started') || this.child !== child, 10_000, 'dnsmasq to start');
    if (this.child !== child) throw new Error(`dnsmasq did not start: ${this.log}`);
    // The hosts directory is read after the start line: wait for it.
    await eventually(() => this.log.includes('read ') || this.log.includes('cleared cache'), 10_000, 'dnsmasq to read its hosts');
  }

  /** Stops dnsmasq; the records stay for the next `launch`. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.child = undefined;
  }

  /** Stops dnsmasq and removes its files. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private writeHosts(hosts: Readonly<Record<string, readonly string[]>>): void {
    const text = Object.entries(hosts)
      .flatMap(([name, addresses]) => addresses.map((address) => `${address} ${name}`))
      .join('\n');
    // Written aside and renamed in, so dnsmasq never reads half a file.
    const staged = join(this.dir, 'hosts.next');
    writeFileSync(staged, `${text}\n`, { mode: 0o644 });
    renameSync(staged, join(this.hostsDir, 'records'));
  }
}
