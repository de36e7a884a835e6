/**
 * Streaming the adapter to a Stately inspector. The inspector's WebSocket
 * client retries forever every 5 s once a connection fails, so it is only
 * attached after one connection attempt has succeeded; otherwise the agent
 * logs a warning and runs without it.
 *
 * `@statelyai/inspect` and `ws` are optional peers, loaded only for
 * `--inspect` and `inspect-server`.
 */
import type { InspectionEvent } from 'xstate';
import type { DiscoveryLogger } from '../discovery.js';
import { failure } from './errors.js';

export interface AttachedInspector {
  inspect(event: InspectionEvent): void;
  stop(): void;
}

/** The relay `distribute inspect-server` runs by default. */
export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8080';

/** Imports an optional peer, or fails with one line saying what to install. */
export async function optionalPeer<T>(load: () => Promise<T>, what: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    // The bundled command requires what the library imports: either way of not finding it.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw failure(`${what} needs the optional packages @statelyai/inspect and ws: npm install @statelyai/inspect ws`);
  }
}

async function reachable(url: string, timeoutMs: number): Promise<string | undefined> {
  const { default: WebSocket } = await optionalPeer(() => import('ws'), '--inspect');
  return new Promise((resolve) => {
    let socket: InstanceType<typeof WebSocket>;
    try {
      socket = new WebSocket(url, { handshakeTimeout: timeoutMs });
    } catch (error) {
      resolve((error as Error).message);
      return;
    }
    socket.once('open', () => {
      socket.close();
      resolve(undefined);
    });
    socket.once('error', (error) => {
      socket.terminate();
      resolve((error as NodeJS.ErrnoException).code ?? error.message);
    });
  });
}

/** An inspector sending to `url`, or undefined (with a logged warning) when none answers there. */
export async function attachInspector(url: string, log: DiscoveryLogger): Promise<AttachedInspector | undefined> {
  const { createWebSocketInspector } = await optionalPeer(() => import('@statelyai/inspect'), '--inspect');
  const problem = await reachable(url, 1000);
  if (problem) {
    log.warn({ url, problem }, `inspector at ${url} is not reachable (${problem}); running without it`);
    return undefined;
  }
  const inspector = createWebSocketInspector({ url });
  return { inspect: (event) => inspector.inspect.next?.(event), stop: () => inspector.stop() };
}
