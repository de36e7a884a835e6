/**
 * Outgoing requests: connect, send the `R` kind byte and one frame, read
 * one frame back. Never rejects; every way it can fail is a `StreamError`.
 */
import { connect, type Socket } from 'node:net';
import { parseAddress } from '../../address.js';
import type { Result } from '../../types.js';
import { FrameReader, frameHeader, HEADER_BYTES, KIND_REQUEST } from './framing.js';
import type { Shared } from './transport-config.js';
import type { StreamError } from './transport.js';

type Answer = Result<Buffer, StreamError>;

const failure = (to: string, type: StreamError['type'], message: string, code?: string): Answer => ({
  ok: false,
  error: { type, message, to, ...(code ? { code } : {}) },
});

/**
 * One request to `to`. `pending` holds a settle function for each request
 * under way, so that closing the transport can end them all `Closed`.
 */
export function request(
  shared: Shared,
  pending: Set<() => void>,
  to: string,
  data: Uint8Array,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal },
): Promise<Answer> {
  if (shared.closed()) return Promise.resolve(failure(to, 'Closed', 'The transport is closed'));
  const target = parseAddress(to);
  if (target === undefined) return Promise.resolve(failure(to, 'InvalidAddress', `Expected host:port, got "${to}"`));
  const limit = shared.config.maxStreamBytes;
  if (data.length > limit) {
    shared.stats.oversizedSends++;
    return Promise.resolve(failure(to, 'Oversized', `A request of ${data.length} bytes is over the ${limit} byte frame limit`));
  }
  const { signal } = options;
  if (signal?.aborted) return Promise.resolve(failure(to, 'Aborted', `Request to ${to} aborted before it started`));
  const timeoutMs = options.timeoutMs ?? shared.config.streamTimeoutMs;

  return new Promise((resolve) => {
    shared.stats.streamsOut++;
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    shared.track(socket);
    let settled = false;
    const finish = (result: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      pending.delete(onClose);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => finish(failure(to, 'Aborted', `Request to ${to} aborted`));
    const onClose = () => finish(failure(to, 'Closed', 'The transport closed before an answer came'));
    const timer = setTimeout(() => finish(failure(to, 'Timeout', `No answer from ${to} within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    pending.add(onClose);
    exchange(shared, socket, to, data, finish);
  });
}

/** Writes the request once connected and reads the one answer frame. */
function exchange(shared: Shared, socket: Socket, to: string, data: Uint8Array, finish: (result: Answer) => void): void {
  const limit = shared.config.maxStreamBytes;
  const reader = new FrameReader(limit);
  socket.once('connect', () => {
    socket.cork();
    socket.write(frameHeader(KIND_REQUEST, data.length));
    socket.write(data);
    socket.uncork();
    shared.stats.bytesOut += 1 + HEADER_BYTES + data.length;
  });
  socket.on('data', (chunk: Buffer) => {
    const status = reader.push(chunk, 0);
    if (status === 'more') return;
    if (status === 'oversized') return finish(failure(to, 'Oversized', `The answer from ${to} (${reader.declared} bytes) is over the ${limit} byte frame limit`));
    shared.stats.bytesIn += HEADER_BYTES + reader.declared;
    finish({ ok: true, value: reader.take() });
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    const refused = error.code === 'ECONNREFUSED';
    finish(failure(to, refused ? 'Refused' : 'Failed', `${to}: ${refused ? 'nothing listens there' : (error.code ?? error.message)}`, error.code));
  });
  socket.on('close', () => finish(failure(to, 'Closed', `${to} closed the connection without a whole answer`)));
}
