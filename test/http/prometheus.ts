/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4),
 * enough to check what `/metrics` serves: every family declared by `# TYPE`
 * before its samples, valid names and labels, counters named `_total`,
 * numeric values, no sample twice; histogram and summary samples
 * (`_bucket`, `_sum`, `_count`) belong to their family.
 */
export interface Family {
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  readonly samples: { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

// Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes `Nan`).
function parseValue(text: string, line: number): number {
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        value += next === 'n' ? '\n' : next;
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`line ${line}: unterminated label value`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i < text.length) throw new Error(`line ${line}: expected ',' between labels`);
  }
  return labels;
}

/** Parses `text`, throwing with the line number on the first thing out of format. */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const typed = new Set<string>();
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!match) return; // a plain comment
      const [, kind, name, rest] = match as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${JSON.stringify(name)}`);
      if (kind === 'TYPE') {
        if (typed.has(name)) throw new Error(`line ${line}: ${name} declared twice`);
        if (families.get(name)?.samples.length) throw new Error(`line ${line}: # TYPE ${name} after its samples`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`line ${line}: bad type ${rest}`);
        if (rest === 'counter' && !name.endsWith('_total')) throw new Error(`line ${line}: counter ${name} does not end in _total`);
        typed.add(name);
        families.set(name, { type: rest as Family['type'], help: families.get(name)?.help, samples: [] });
      } else {
        const family = families.get(name);
        if (family?.help !== undefined) throw new Error(`line ${line}: # HELP ${name} twice`);
        if (family) family.help = rest;
        else families.set(name, { type: 'untyped', help: rest, samples: [] });
      }
      return;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(raw);
    if (!match) throw new Error(`line ${line}: not a sample: ${JSON.stringify(raw)}`);
    const [, name, labelText, valueText] = match as unknown as [string, string, string | undefined, string];
    // A histogram's samples are its name with _bucket (by `le`), _sum and _count; a summary's _sum and _count.
    const base = /^(.+)_(bucket|sum|count)$/.exec(name);
    const parent = base && ['histogram', 'summary'].includes(families.get(base[1]!)?.type ?? '') ? base[1]! : undefined;
    if (parent && base![2] === 'bucket' && families.get(parent)!.type !== 'histogram') throw new Error(`line ${line}: ${name} in a summary`);
    const familyName = parent ?? name;
    const family = families.get(familyName);
    if (!family || !typed.has(familyName)) throw new Error(`line ${line}: sample ${name} before its # TYPE`);
    const labels = labelText ? parseLabels(labelText, line) : {};
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${line}: sample ${key} twice`);
    seen.add(key);
    family.samples.push({ name, labels, value: parseValue(valueText, line) });
  });
  return families;
}

/** The value of one sample, or undefined. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
  const sample = family?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length);
  return sample?.value;
}
