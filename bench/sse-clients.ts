/**
 * Many event-stream clients in their own process, for bench/http.ts: opens
 * `count` connections to `url`, then answers commands on stdin.
 *
 *   node --import tsx bench/sse-clients.ts <url> <count>
 *   stdin `mark K`: reply {"marked"} now and {"done","at"} once every client got K more events
 */
import { request, Agent } from 'node:http';

const [url, countText] = process.argv.slice(2) as [string, string];
const count = Number(countText);
const agent = new Agent({ maxSockets: Infinity });
const received = new Array<number>(count).fill(0);
let target: { base: number[]; k: number } | undefined;
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

function check(): void {
  if (!target) return;
  for (let i = 0; i < count; i++) if (received[i]! - target.base[i]! < target.k) return;
  target = undefined;
  print({ done: true, at: Date.now() });
}

let connected = 0;
for (let i = 0; i < count; i++) {
  const req = request(url, { agent });
  req.on('response', (res) => {
    res.setEncoding('utf8');
    let first = true;
    let tail = '';
    res.on('data', (chunk: string) => {
      // Counting "\ndata: " is enough (every event has one line of data); the tail catches one split across chunks.
      const text = tail + chunk;
      let at = -1;
      while ((at = text.indexOf('\ndata: ', at + 1)) >= 0) received[i]!++;
      tail = text.slice(-6);
      if (first && received[i]! > 0) {
        first = false;
        if (++connected === count) print({ ready: true });
      }
      check();
    });
  });
  req.on('error', (error) => print({ error: error.message }));
  req.end();
}

let input = '';
process.stdin.setEncoding('utf8').on('data', (chunk: string) => {
  input += chunk;
  let end: number;
  while ((end = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, end);
    input = input.slice(end + 1);
    if (line.startsWith('mark ')) {
      target = { base: [...received], k: Number(line.slice(5)) };
      print({ marked: true });
    } else if (line === 'exit') {
      agent.destroy();
      process.exit(0);
    }
  }
});
