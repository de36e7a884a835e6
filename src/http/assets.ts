/**
 * The page's files, built into `dist/page` by `npm run build` and shipped in
 * the package: served from memory, read once, never fetched from elsewhere.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The files of the page by URL path; `/` is `index.html`. */
export const PAGE_FILES = ['/index.html', '/app.js', '/app.css', '/elk-worker.js'] as const;

// The package root holds package.json; from dist/src/http or src/http alike.
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('distribute: cannot find the package root for the page files');
    dir = up;
  }
  return dir;
}

let cache: Map<string, Asset> | undefined;

/** The page's files, or undefined when the package was not built. */
export function pageAssets(): Map<string, Asset> | undefined {
  if (cache) return cache;
  const dir = join(packageRoot(), 'dist', 'page');
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, Asset>();
  for (const path of PAGE_FILES) {
    const body = readFileSync(join(dir, path.slice(1)));
    files.set(path, { body, type: TYPES[path.slice(path.lastIndexOf('.'))]! });
  }
  cache = files;
  return files;
}
