/** Raw HTTP over a TCP socket: what a hostile client sends, byte for byte. */
import { connect } from 'node:net';

/** Sends `text` on a new connection and resolves with everything the server sent before closing (or `waitMs` passing). */
export function rawExchange(port: number, text: string | Buffer, waitMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(done, waitMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      // One whole response is enough: a status line and the end of the headers, and the body when it has a length.
      const end = answer.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(answer);
      if (end >= 0 && (!length || answer.length >= end + 4 + Number(length[1]))) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => socket.write(text));
  });
}

/** The status code of a raw answer, or 0 when none came. */
export const statusOf = (answer: string): number => Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);

/** The body of a raw answer. */
export const bodyOf = (answer: string): string => answer.slice(answer.indexOf('\r\n\r\n') + 4);
