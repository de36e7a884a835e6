/**
 * Runs every benchmark in turn; each writes its own file in bench/results/.
 *
 *   npm run bench     (builds first: the process benchmarks run the built package)
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
for (const script of ['facade.ts', 'parent.ts', 'ownership.ts', 'simulated-network.ts', 'gossip-sim.ts', 'gossip-partition.ts', 'gossip-restart.ts', 'gossip-flood.ts', 'gossip-loopback.ts', 'join-hops.ts', 'cli-startup.ts', 'side-by-side.ts', 'dns.ts', 'stores.ts', 'http.ts']) {
  console.log(`\n== bench/${script}`);
  execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', join('bench', script)], { cwd: root, stdio: 'inherit' });
}
