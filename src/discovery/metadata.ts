/**
 * The limits on a node's metadata and the one check of them, shared by the
 * options (`validateMetadata`), the gossip core and the gossip codec, so a
 * value accepted at one door is accepted at every other.
 *
 * @module
 */
import { isRecord } from './values.js';

/** Largest metadata a node may publish: UTF-8 bytes of all keys and values together. */
export const MAX_METADATA_BYTES = 512;
/** Most metadata entries a node may publish. */
export const MAX_METADATA_ENTRIES = 32;

/** What is wrong with a metadata value: where (`''` for the whole, or a key), what was found, what was expected. */
export interface MetadataProblem {
  readonly at: '' | `.${string}` | ' key';
  readonly found: unknown;
  readonly expected: string;
}

/**
 * Checks a metadata value against the limits: a plain object of at most
 * `MAX_METADATA_ENTRIES` string values with non-empty keys, at most
 * `MAX_METADATA_BYTES` bytes in all. Undefined when it is fine.
 *
 * @example
 * ```ts
 * metadataProblem({ zone: 'eu' }); // undefined
 * metadataProblem({ port: 8080 }); // { at: '.port', found: 8080, expected: 'a string' }
 * ```
 */
export function metadataProblem(value: unknown): MetadataProblem | undefined {
  if (!isRecord(value)) return { at: '', found: value, expected: 'an object of string values' };
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_ENTRIES) {
    return { at: '', found: `${entries.length} entries`, expected: `at most ${MAX_METADATA_ENTRIES} entries` };
  }
  let bytes = 0;
  for (const [key, entry] of entries) {
    if (key.length === 0) return { at: ' key', found: key, expected: 'a non-empty key' };
    if (typeof entry !== 'string') return { at: `.${key}`, found: entry, expected: 'a string' };
    bytes += Buffer.byteLength(key) + Buffer.byteLength(entry);
  }
  if (bytes > MAX_METADATA_BYTES) {
    return { at: '', found: `${bytes} bytes`, expected: `at most ${MAX_METADATA_BYTES} bytes of keys and values` };
  }
  return undefined;
}

/** A problem as one line, e.g. `metadata.port is 8080; expected a string`. */
export function describeMetadataProblem(problem: MetadataProblem, field = 'metadata'): string {
  return `${field}${problem.at} is ${JSON.stringify(problem.found)}; expected ${problem.expected}`;
}
