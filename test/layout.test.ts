/**
 * The shape of the house, read from the source: every import of src/ and
 * machines/ (static, dynamic and type-only alike) forms a graph with no
 * circle, no import runs from a lower layer up to a higher one, no file is
 * over 500 lines, and every file name is kebab-case.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const MAX_LINES = 500;

/**
 * The layers, lowest first: a file may import its own layer and those below.
 * The first prefix that matches a path names its layer.
 */
const LAYERS: readonly (readonly [string, readonly string[]])[] = [
  ['vocabulary and small shared parts', ['src/discovery/types.ts', 'src/discovery/values.ts', 'src/discovery/peers.ts', 'src/discovery/address.ts', 'src/discovery/metadata.ts', 'src/discovery/rng.ts', 'src/discovery/ownership.ts', 'src/discovery/dns.ts']],
  ['gossip wire format and sockets', ['src/discovery/gossip/wire/', 'src/discovery/gossip/net/']],
  ['gossip protocol core', ['src/discovery/gossip/protocol/']],
  ['gossip driver', ['src/discovery/gossip/driver.ts']],
  ['backend contract and statecharts', ['src/discovery/kit/backend.ts', 'machines/']],
  ['adapter kit', ['src/discovery/kit/']],
  ['adapters', ['src/discovery/adapters/']],
  ['runtime: hub, registry, supervisor, facade, simulated network', ['src/discovery/']],
  ['http handler', ['src/http/']],
  ['entries', ['src/discovery.ts', 'src/internals.ts', 'src/testing.ts']],
  ['command', ['src/cli.ts', 'src/cli/']],
];

function layerOf(file: string): number {
  const at = LAYERS.findIndex(([, prefixes]) => prefixes.some((p) => file === p || (p.endsWith('/') && file.startsWith(p))));
  if (at < 0) throw new Error(`${file} is in no layer: add it to LAYERS`);
  return at;
}

function walk(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(`${dir}/${entry.name}`) : [`${dir}/${entry.name}`],
  );
}

const sources = [...walk('src'), ...walk('machines')].filter((f) => /\.(ts|mts)$/.test(f) && !f.endsWith('.d.ts'));
const code = sources.filter((f) => !f.startsWith('src/http/page/'));

/** The source files `file` imports, by relative specifier; packages are not followed. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm)].map((m) => m[2]!);
  return specifiers.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const graph = new Map(code.map((file) => [file, importsOf(file).filter((target) => target !== file)]));

/** Every circle of the graph, each as the path that closes it. */
function circles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe('the layout of src/ and machines/', () => {
  it('every import names a file that exists', () => {
    const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => !sources.includes(t) && !t.startsWith('src/http/page/')).map((t) => `${file} → ${t}`));
    expect(missing).toEqual([]);
  });

  it('has no circle of imports', () => {
    expect(circles().map((circle) => circle.join(' → '))).toEqual([]);
  });

  it('has no import running from a lower layer up to a higher one', () => {
    const upward = [...graph].flatMap(([file, targets]) =>
      targets.filter((t) => sources.includes(t) && layerOf(t) > layerOf(file)).map((t) => `${file} (${LAYERS[layerOf(file)]![0]}) → ${t} (${LAYERS[layerOf(t)]![0]})`),
    );
    expect(upward).toEqual([]);
  });

  it('the page takes the server types from the server, and nothing else of it', () => {
    expect(importsOf('src/http/page/app.ts'), 'the page imports the member row type').toContain('src/http/members.ts');
    const page = sources.filter((f) => f.startsWith('src/http/page/'));
    const reached = page.flatMap((f) => importsOf(f).filter((t) => !t.startsWith('src/http/page/')));
    for (const target of reached) expect(target, 'a page import of the server').toMatch(/^src\/(http\/(members|events|statechart)|discovery\/types)\.ts$/);
    const text = page.map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
    expect(text, 'the page imports its types with `import type` only').not.toMatch(/^import (?!type )[^;]*from '\.\.\//m);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = sources
      .map((f) => [f, readFileSync(join(root, f), 'utf8').split('\n').length - 1] as const)
      .filter(([, lines]) => lines > MAX_LINES)
      .map(([f, lines]) => `${f}: ${lines} lines`);
    expect(long).toEqual([]);
  });

  it('names every file in kebab-case (a role suffix such as .machine, .test or .d aside)', () => {
    const names = [...walk('src'), ...walk('machines'), ...walk('test')].map((f) => relative(root, join(root, f)));
    const bad = names.filter((f) => !/^[a-z0-9]+(-[a-z0-9]+)*(\.(machine|test|d|model\.test))?\.[a-z]+$/.test(f.split('/').at(-1)!));
    expect(bad).toEqual([]);
  });

  it('every folder of src/ and machines/ has a kebab-case name', () => {
    const folders = new Set([...walk('src'), ...walk('machines')].map((f) => dirname(f)));
    expect([...folders].filter((d) => !d.split('/').every((part) => /^[a-z0-9]+(-[a-z0-9]+)*$/.test(part)))).toEqual([]);
  });

  it('knows a circle and an upward import when it sees one (the checks can fail)', () => {
    graph.set('src/discovery/types.ts#probe', ['machines/adapter.machine.ts']);
    expect(layerOf('src/discovery/types.ts')).toBeLessThan(layerOf('machines/adapter.machine.ts'));
    graph.delete('src/discovery/types.ts#probe');
    graph.set('x/a.ts', ['x/b.ts']);
    graph.set('x/b.ts', ['x/a.ts']);
    expect(circles().map((c) => c.join(' → '))).toContain('x/a.ts → x/b.ts → x/a.ts');
    graph.delete('x/a.ts');
    graph.delete('x/b.ts');
  });
});
