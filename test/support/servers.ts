/**
 * Real etcd and Redis servers for tests and benchmarks: each on free
 * loopback ports with its own temporary directory, stopped by the caller.
 * `serverUnavailable()` says why one cannot run here; suites skip with that
 * reason, except under CI (`CI=true`), where a missing server is a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect, createServer, type Server as Server_, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';
import { eventually } from './wait.js';

/** Under CI a missing server fails the suite instead of skipping it. */
export const inCI = process.env.CI === 'true';

const PACKAGES: Record<string, string> = { etcd: 'etcd-server', 'redis-server': 'redis-server', 'redis-sentinel': 'redis-sentinel', openssl: 'openssl' };

/** Why `binary` cannot run here, or undefined when it can. */
export function serverUnavailable(binary: Binary): string | undefined {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${binary} is not installed (apt-get install -y ${PACKAGES[binary]})`;
  }
}

type Binary = 'etcd' | 'redis-server' | 'redis-sentinel' | 'openssl';

/** Skip the suite where a server (or tool) it needs is missing, unless under CI; `title` carries the reason. */
export function serverSuite(binaries: Binary | readonly Binary[], title: string): { skip: boolean; title: string; missing: string | undefined } {
  const missing = (typeof binaries === 'string' ? [binaries] : binaries).map(serverUnavailable).find((reason) => reason !== undefined);
  return { skip: missing !== undefined && !inCI, title: missing ? `${title} (${inCI ? 'failing under CI' : 'skipped'}: ${missing})` : title, missing };
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
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`${this.kind} exited with ${child.exitCode}: ${stderr.join('')}`);
        return this.ready();
      },
      20_000,
      `${this.kind} on port ${this.port}`,
      50,
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
    return answersPing(this.port);
  }
}

/** Whether a Redis server or sentinel answers PING on `port` (NOAUTH counts: it is up, wanting a password). */
function answersPing(port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
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

/** The name sentinels know the primary by, in the tests. */
export const SENTINEL_PRIMARY = 'members';

/** A redis-sentinel on loopback watching the primary at `primaryPort` (quorum 2, down after 1 s). */
export class SentinelServer extends Server {
  private constructor(port: number, private readonly primaryPort: number) {
    super('sentinel', port);
  }

  static async start(primaryPort: number): Promise<SentinelServer> {
    return new SentinelServer(await freePort(), primaryPort).start();
  }

  override async start(): Promise<this> {
    // Sentinel rewrites its file with what it learns; each start begins from this one.
    writeFileSync(
      join(this.dir, 'sentinel.conf'),
      [
        `port ${this.port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        'loglevel warning',
        `sentinel monitor ${SENTINEL_PRIMARY} 127.0.0.1 ${this.primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_PRIMARY} 1000`,
        `sentinel failover-timeout ${SENTINEL_PRIMARY} 5000`,
        `sentinel parallel-syncs ${SENTINEL_PRIMARY} 1`,
        '',
      ].join('\n'),
    );
    return super.start();
  }

  protected binary(): string {
    return 'redis-sentinel';
  }

  protected args(): string[] {
    return [join(this.dir, 'sentinel.conf')];
  }

  protected ready(): Promise<boolean> {
    return answersPing(this.port);
  }
}

/**
 * A primary, a replica of it and three sentinels, on loopback; `ready()`
 * waits until the replica is in sync and every sentinel knows the replica
 * and the two other sentinels, so that a failover can happen.
 */
export class SentinelGroup {
  private constructor(
    readonly primary: RedisServer,
    readonly replica: RedisServer,
    readonly sentinels: SentinelServer[],
  ) {}

  static async start(): Promise<SentinelGroup> {
    const primary = await RedisServer.start();
    const replica = await RedisServer.start({ extraArgs: () => ['--replicaof', '127.0.0.1', String(primary.port)] });
    const sentinels = [];
    for (let i = 0; i < 3; i++) sentinels.push(await SentinelServer.start(primary.port));
    const group = new SentinelGroup(primary, replica, sentinels);
    await eventually(() => group.formed(), 30_000, 'the replica and the sentinels to know each other', 50);
    return group;
  }

  /** The adapter's client options for this group. */
  get clientOptions(): { sentinels: { host: string; port: number }[]; name: string } {
    return { sentinels: this.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: SENTINEL_PRIMARY };
  }

  /** The port of the primary as the first sentinel reports it. */
  async primaryPort(): Promise<number> {
    const reply = await command(this.sentinels[0]!.port, ['SENTINEL', 'get-master-addr-by-name', SENTINEL_PRIMARY]);
    return Number(/\r\n(\d+)\r\n$/.exec(reply)?.[1] ?? 0);
  }

  /** Waits until the sentinels name the replica as the primary. */
  async promoted(): Promise<void> {
    await eventually(async () => (await this.primaryPort()) === this.replica.port, 30_000, 'the sentinels to promote the replica', 50);
  }

  private async formed(): Promise<boolean> {
    const info = await command(this.primary.port, ['INFO', 'replication']);
    if (!/slave0:.*state=online/.test(info)) return false;
    for (const sentinel of this.sentinels) {
      const reply = await command(sentinel.port, ['SENTINEL', 'master', SENTINEL_PRIMARY]);
      const field = (name: string) => Number(new RegExp(`\\$\\d+\r\n${name}\r\n\\$\\d+\r\n(\\d+)`).exec(reply)?.[1] ?? 0);
      if (field('num-slaves') < 1 || field('num-other-sentinels') < 2) return false;
    }
    return true;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, this.primary, this.replica].map((s) => s.stop()));
  }
}

/** One command over a plain socket (no client library, so the tests' helpers need none); the raw reply. */
function command(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1000);
    socket.once('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (data) => {
      reply += String(data);
      // Enough for the small replies asked for here: wait briefly for the rest, then answer.
      socket.setTimeout(50);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(reply);
    });
    socket.once('error', () => resolve(reply));
  });
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
