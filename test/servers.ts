/**
 * Real etcd and Redis servers for tests and benchmarks: each on free
 * loopback ports with its own temporary directory, stopped by the caller.
 * `serverUnavailable()` says why one cannot run here; suites skip with that
 * reason, except under CI (`CI=true`), where a missing server is a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect, createServer, type Server as Server_, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './children.js';

/** Under CI a missing server fails the suite instead of skipping it. */
export const inCI = process.env.CI === 'true';

const PACKAGES: Record<string, string> = { etcd: 'etcd-server', 'redis-server': 'redis-server', openssl: 'openssl' };

/** Why `binary` cannot run here, or undefined when it can. */
export function serverUnavailable(binary: 'etcd' | 'redis-server' | 'openssl'): string | undefined {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${binary} is not installed (apt-get install -y ${PACKAGES[binary]})`;
  }
}

/** Skip the suite where the server is missing, unless under CI; `title` carries the reason. */
export function serverSuite(binary: 'etcd' | 'redis-server', title: string): { skip: boolean; title: string; missing: string | undefined } {
  return suiteWithout(serverUnavailable(binary), title);
}

function suiteWithout(missing: string | undefined, title: string): ReturnType<typeof serverSuite> {
  return { skip: missing !== undefined && !inCI, title: missing ? `${title} (${inCI ? 'failing under CI' : 'skipped'}: ${missing})` : title, missing };
}

/** As `serverSuite`, for a suite that also needs openssl to make its certificates. */
export function tlsServerSuite(binary: 'etcd' | 'redis-server', title: string): ReturnType<typeof serverSuite> {
  return suiteWithout(serverUnavailable(binary) ?? serverUnavailable('openssl'), title);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

abstract class Server {
  protected child: ChildProcess | undefined;
  readonly dir: string;
  constructor(private readonly kind: string, readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), `distribute-${kind}-`));
  }

  protected abstract args(): string[];
  protected abstract binary(): string;
  protected abstract ready(): Promise<boolean>;

  /** Starts (or starts again, on the same port and directory). */
  async start(): Promise<this> {
    const child = spawn(this.binary(), this.args(), { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    const stderr: string[] = [];
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.length < 50 && stderr.push(chunk));
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`${this.kind} exited with ${child.exitCode}: ${stderr.join('')}`);
        return this.ready();
      },
      20_000,
      `${this.kind} on port ${this.port}`,
    );
    return this;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Kills the server (SIGKILL by default) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** Kills it and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Removes what the server stored, so that the next start is empty. */
  wipe(): void {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir);
  }
}

/** PEM files a server presents and checks clients against. */
export interface ServerTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** Client certificates checked against, for the readiness probe. */
  readonly clientCert: string;
  readonly clientKey: string;
}

/** An etcd 3.4 single-member cluster on loopback; with `tls`, clients need a certificate the CA signed. */
export class EtcdServer extends Server {
  private constructor(port: number, private readonly peerPort: number, private readonly tls: ServerTls | undefined) {
    super('etcd', port);
  }

  static async start(options: { tls?: ServerTls } = {}): Promise<EtcdServer> {
    return new EtcdServer(await freePort(), await freePort(), options.tls).start();
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  protected binary(): string {
    return 'etcd';
  }

  protected args(): string[] {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return [
      '--name', 'test',
      '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', this.url,
      '--advertise-client-urls', this.url,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`,
      '--logger', 'zap',
      '--log-level', 'error',
      ...(this.tls
        ? ['--cert-file', this.tls.cert, '--key-file', this.tls.key, '--trusted-ca-file', this.tls.ca, '--client-cert-auth']
        : []),
    ];
  }

  protected async ready(): Promise<boolean> {
    if (this.tls) return tlsHealth(this.port, this.tls);
    try {
      const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
      return response.ok && ((await response.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }
}

/** etcd's /health over mutual TLS (fetch cannot present a client certificate). */
function tlsHealth(port: number, tls: ServerTls): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey), timeout: 1000 };
    const request = httpsGet(`https://127.0.0.1:${port}/health`, options, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 && body.includes('"health":"true"')));
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}

/** A redis-server on loopback; `persistent` keeps an append-only file across restarts. */
export class RedisServer extends Server {
  private constructor(
    port: number,
    private readonly persistent: boolean,
    private readonly extra: (dir: string) => string[],
  ) {
    super('redis', port);
  }

  /** `extraArgs` get the server's directory (for TLS files, say) and add to its command line. */
  static async start(options: { persistent?: boolean; extraArgs?: (dir: string) => string[] } = {}): Promise<RedisServer> {
    return new RedisServer(await freePort(), options.persistent ?? false, options.extraArgs ?? (() => [])).start();
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected binary(): string {
    return 'redis-server';
  }

  protected args(): string[] {
    return [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.persistent ? 'yes' : 'no',
      '--appendfsync', 'always',
      '--loglevel', 'warning',
      ...this.extra(this.dir),
    ];
  }

  protected ready(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.setTimeout(1000);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        // A server that wants a password answers NOAUTH: it is up.
        resolve(/^(\+PONG|-NOAUTH)/.test(String(data)));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
  }
}

/**
 * A TCP proxy in front of a server whose connections the test can cut (all
 * open ones dropped, new ones refused) and restore: a network failure
 * between one client and the server while the others carry on.
 */
export class CuttableProxy {
  private sockets = new Set<Socket>();
  private cutOff = false;
  /** Connections clients opened through the proxy, refused ones included. */
  connections = 0;
  private constructor(private readonly server: Server_, readonly port: number) {}

  static async start(targetPort: number): Promise<CuttableProxy> {
    const sockets = new Set<Socket>();
    let proxy: CuttableProxy | undefined;
    const server = createServer((client) => {
      proxy!.connections++;
      if (proxy!.cutOff) return client.destroy();
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    proxy = new CuttableProxy(server, (server.address() as { port: number }).port);
    proxy.sockets = sockets;
    return proxy;
  }

  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
