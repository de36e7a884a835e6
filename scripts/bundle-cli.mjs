// Builds the `distribute` command (run by `npm run build`):
//
// - dist/cli-bundle.cjs: the command in one file. Loading one file instead of
//   dozens is most of what start-up costs beyond Node's own; see
//   bench/cli-startup.ts. xstate goes into the bundle (the command is a
//   program of its own); what package.json declares as a dependency or an
//   optional peer stays outside, loaded from node_modules when a run needs it,
//   so a new optional adapter or extra needs no change here. It is CommonJS:
//   Node reaches a CommonJS entry sooner than a module, and V8's code cache
//   works through `vm.Script`, which takes scripts only.
// - dist/cli.cjs: the entry, scripts/cli-entry.cjs, which runs the bundle with
//   its code cache.
// - dist/cli-bundle.cache: that cache, kept from a real join on loopback (a
//   member, and a newcomer that joins it, prints it and leaves), so that what
//   a start and a join run is in it. Without loopback there is no cache and
//   the command only starts slower; the build says so.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const bundle = join(dist, 'cli-bundle.cjs');
const entry = join(dist, 'cli.cjs');
const cache = join(dist, 'cli-bundle.cache');

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const optionalPeers = Object.entries(manifest.peerDependenciesMeta ?? {})
  .filter(([, meta]) => meta.optional)
  .map(([name]) => name);
const external = [...Object.keys(manifest.dependencies ?? {}), ...optionalPeers].flatMap((name) => [name, `${name}/*`]);

// node:crypto loads when first called, not at start: a join needs none of it until its first
// push-pull is out (unless the traffic is sealed, or the node's name is made up), and loading it
// takes some 3 ms of every start (bench/cli-startup.ts). The stand-in exports every function of
// the module; a source that imports a class or a constant from it fails the build, loudly.
const lazyCrypto = {
  name: 'lazy-crypto',
  setup(build) {
    build.onResolve({ filter: /^node:crypto$/ }, ({ path, namespace }) =>
      namespace === 'lazy-crypto' ? { path, external: true } : { path, namespace: 'lazy-crypto' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-crypto' }, async ({ path }) => {
      const module = await import(path);
      const functions = Object.keys(module).filter((name) => /^[a-z]/.test(name) && typeof module[name] === 'function');
      const contents = [
        'let loaded;',
        `const load = () => (loaded ??= require(${JSON.stringify(path)}));`,
        ...functions.map((name) => `export const ${name} = (...args) => load().${name}(...args);`),
      ].join('\n');
      return { contents, loader: 'js' };
    });
  },
};

const built = await build({
  entryPoints: [join(root, 'src', 'cli.ts')],
  outfile: bundle,
  write: false,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external,
  // `import()` of an optional peer becomes `require`: a script run by `vm.Script`
  // has no module loader of its own to import with.
  supported: { 'dynamic-import': false },
  // The sources find files beside themselves through import.meta.url.
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [lazyCrypto],
  logLevel: 'warning',
});
// The entry's `#!` line has no place inside the function the bundle is wrapped in. esbuild
// escapes every other character in code, leaving them only in comments, where an escape reads
// the same: so the bundle is ASCII, and the entry reads it as one byte a character, which V8
// keeps in half the memory and takes its cache for about 2 ms sooner than two-byte text.
const text = built.outputFiles[0].text
  .replace(/^#!.*\n/, '')
  .replace(/[^\x00-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
writeFileSync(bundle, text, 'latin1');
copyFileSync(join(root, 'scripts', 'cli-entry.cjs'), entry);
chmodSync(entry, 0o755);

rmSync(cache, { force: true });
try {
  await warmUp();
  if (statSync(cache).size === 0) throw new Error('the cache came out empty');
} catch (error) {
  rmSync(cache, { force: true });
  console.warn(`bundle-cli: no code cache for the command (${error.message}); it starts without one, some 20 ms slower`);
}

/** A member and a newcomer on loopback; the newcomer, run with the cache's path, writes the cache as it exits. */
async function warmUp() {
  const runtime = mkdtempSync(join(tmpdir(), 'distribute-build-'));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
  const agent = (name, extra, extraEnv = {}) => {
    const child = spawn(
      process.execPath,
      [entry, 'agent', '--name', name, '--bind', '127.0.0.1:0', '--control', '127.0.0.1:0', '--profile', 'local', '--json', ...extra],
      { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: child.stdout });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const line = (match) =>
      new Promise((resolve, reject) => {
        const onLine = (text) => {
          const parsed = JSON.parse(text);
          if (match(parsed)) {
            lines.off('line', onLine);
            resolve(parsed);
          }
        };
        lines.on('line', onLine);
        exited.then((code) => reject(new Error(`the ${name} agent exited (${code}) before the line awaited`)));
      });
    return { child, line, exited };
  };
  const member = agent('build-member', []);
  const deadline = setTimeout(() => member.child.kill('SIGKILL'), 10_000);
  try {
    const started = await member.line((l) => l.event === 'AgentStarted');
    const newcomer = agent('build-newcomer', ['--join', started.address], { DISTRIBUTE_WRITE_CODE_CACHE: cache });
    const timer = setTimeout(() => newcomer.child.kill('SIGKILL'), 10_000);
    try {
      await newcomer.line((l) => l.event === 'PeerUp' && l.peer === 'build-member');
    } finally {
      newcomer.child.kill('SIGTERM');
      const code = await newcomer.exited;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`the newcomer exited ${code}`);
    }
  } finally {
    member.child.kill('SIGTERM');
    await member.exited;
    clearTimeout(deadline);
    rmSync(runtime, { recursive: true, force: true });
  }
}
