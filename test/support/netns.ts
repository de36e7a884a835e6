/**
 * A small lab of hosts on one machine: network namespaces joined by veth
 * pairs to a bridge, with nftables rules for partitions and packet loss.
 * Needs root, `ip` and `nft`; `labUnavailable()` says why not when it cannot run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why the lab cannot run here, or undefined when it can. */
export function labUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  for (const tool of ['ip', 'nft']) {
    try {
      run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `${tool} is not installed (apt-get install -y ${tool === 'ip' ? 'iproute2' : 'nftables'})`;
    }
  }
  const probe = `dprobe${process.pid}`;
  try {
    run('ip', ['netns', 'add', probe]);
    run('ip', ['netns', 'del', probe]);
  } catch (error) {
    return `cannot create a network namespace: ${(error as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

/**
 * Why the lab's tests are skipped here, or undefined when they run. Under
 * `CI=true` they always run: a missing tool there must fail the suite (in
 * `openLab`), not quietly skip it.
 */
export function labSkipReason(): string | undefined {
  return process.env.CI === 'true' ? undefined : labUnavailable();
}

/** A lab of `count` hosts; throws saying what is missing when one cannot be built here. */
export function openLab(count: number): Lab {
  const unavailable = labUnavailable();
  if (unavailable !== undefined) throw new Error(`The multi-host lab cannot run: ${unavailable}`);
  return new Lab(count);
}

export class Lab {
  readonly hosts: { ns: string; ip: string }[] = [];
  private readonly sw: string;
  private readonly prefix: string;
  private readonly children = new Set<ChildProcess>();

  constructor(count: number) {
    const id = process.pid % 10_000;
    this.sw = `dsw${id}`;
    // A subnet only these namespaces use; nothing is routed to it from the host.
    this.prefix = `10.213.${id % 250}`;
    run('ip', ['netns', 'add', this.sw]);
    run('ip', ['-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['-n', this.sw, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= count; i++) {
      const ns = `dh${id}x${i}`;
      const ip = `${this.prefix}.${i}`;
      run('ip', ['netns', 'add', ns]);
      run('ip', ['-n', this.sw, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      run('ip', ['-n', this.sw, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      run('ip', ['netns', 'exec', ns, 'nft', 'add table inet lab']);
      run('ip', ['netns', 'exec', ns, 'nft', 'add chain inet lab input { type filter hook input priority 0 ; }']);
      this.hosts.push({ ns, ip });
    }
  }

  /** Starts `node args` inside a host. */
  spawn(host: number, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.hosts[host]!.ns, process.execPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Drops everything host `a` and host `b` send each other. */
  cut(a: number, b: number): void {
    this.rule(a, `ip saddr ${this.hosts[b]!.ip} drop`);
    this.rule(b, `ip saddr ${this.hosts[a]!.ip} drop`);
  }

  /** Drops everything between the hosts of `a` and those of `b` (by index), both ways. */
  split(a: readonly number[], b: readonly number[]): void {
    for (const x of a) for (const y of b) this.cut(x, y);
  }

  /** Drops every UDP datagram host `a` sends or receives, as a firewall that only lets TCP through; TCP still flows. */
  blockUdp(a: number): void {
    this.rule(a, 'meta l4proto udp drop');
    for (let i = 0; i < this.hosts.length; i++) if (i !== a) this.rule(i, `ip saddr ${this.hosts[a]!.ip} meta l4proto udp drop`);
  }

  /** Drops `percent`% of what every host receives, at random. */
  loss(percent: number): void {
    for (let i = 0; i < this.hosts.length; i++) this.rule(i, `numgen random mod 100 < ${percent} drop`);
  }

  /** Removes every rule. */
  heal(): void {
    for (const { ns } of this.hosts) run('ip', ['netns', 'exec', ns, 'nft', 'flush chain inet lab input']);
  }

  private rule(host: number, rule: string): void {
    run('ip', ['netns', 'exec', this.hosts[host]!.ns, 'nft', `add rule inet lab input ${rule}`]);
  }

  /** Kills every process it started and deletes every namespace. */
  async teardown(): Promise<void> {
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    for (const { ns } of this.hosts) run('ip', ['netns', 'del', ns]);
    run('ip', ['netns', 'del', this.sw]);
  }
}
