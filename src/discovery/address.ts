/** `host:port` addresses, as every adapter and the command write them. */

/** A host and port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * Splits `host:port` (or `[v6]:port`) into its parts; `undefined` when it is
 * not one or the port is not 1 to 65535.
 *
 * @example
 * ```ts
 * parseAddress('10.0.0.7:7946'); // { host: '10.0.0.7', port: 7946 }
 * parseAddress('[::1]:7946'); // { host: '::1', port: 7946 }
 * ```
 */
export function parseAddress(address: string): Endpoint | undefined {
  const match = /^(?:\[([^[\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: (match[1] ?? match[2])!, port };
}

/**
 * Joins a host and port as `host:port`, bracketing IPv6 hosts; an
 * IPv4-mapped IPv6 host (`::ffff:1.2.3.4`) is written as plain IPv4.
 *
 * @example
 * ```ts
 * formatAddress('::1', 7946); // '[::1]:7946'
 * ```
 */
export function formatAddress(host: string, port: number): string {
  if (host.startsWith('::ffff:') && host.includes('.')) return `${host.slice(7)}:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether `host` can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
