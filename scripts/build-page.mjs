// Bundles the cluster page (src/http/page) with its libraries into dist/page,
// so the package ships ready files and the page needs no network.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist', 'page');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'src', 'http', 'page', 'app.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  outdir: out,
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(join(root, 'src', 'http', 'page', 'index.html'), join(out, 'index.html'));
// The layout engine runs in a worker, as elkjs ships it.
copyFileSync(join(root, 'node_modules', 'elkjs', 'lib', 'elk-worker.min.js'), join(out, 'elk-worker.js'));
