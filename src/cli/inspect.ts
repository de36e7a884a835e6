/**
 * Streaming the adapter to a Stately inspector. The inspector's WebSocket
 * client retries forever every 5 s once a connection fails, so it is only
 * attached after one connection attempt has succeeded; otherwise the agent
 * logs a warning and runs without it.
 */
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import WebSocket from 'ws';

export interface AttachedInspector {
  inspect(event: InspectionEvent): void;
  stop(): void;
}

/** The relay `distribute inspect-server` runs by default. */
export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8080';

function reachable(url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let socket: WebSocket;
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
export async function attachInspector(url: string, log: Logger): Promise<AttachedInspector | undefined> {
  const problem = await reachable(url, 1000);
  if (problem) {
    log.warn({ url, problem }, `inspector at ${url} is not reachable (${problem}); running without it`);
    return undefined;
  }
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const inspector = createWebSocketInspector({ url });
  return { inspect: (event) => inspector.inspect.next?.(event), stop: () => inspector.stop() };
}
