// Bundles the `distribute` command into one file, dist/cli.js (run by `npm run build`).
// Loading one file instead of dozens is most of what the command's start-up
// costs beyond Node's own; see bench/cli-startup.ts. xstate goes into the
// bundle (the command is a program of its own); what package.json declares as
// a dependency or an optional peer stays outside, loaded from node_modules when
// a run needs it, so a new optional adapter or extra needs no change here.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const optionalPeers = Object.entries(manifest.peerDependenciesMeta ?? {})
  .filter(([, meta]) => meta.optional)
  .map(([name]) => name);
const external = [...Object.keys(manifest.dependencies ?? {}), ...optionalPeers].flatMap((name) => [name, `${name}/*`]);

await build({
  entryPoints: [new URL('../src/cli.ts', import.meta.url).pathname],
  outfile: new URL('../dist/cli.js', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external,
  logLevel: 'warning',
});
