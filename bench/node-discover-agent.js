// A node-discover 1.2.1 member for bench/side-by-side.ts, printing what
// `distribute agent --json` prints: one JSON line per membership change.
// node-discover's defaults throughout (a hello every 1 s, a member is removed
// 2 s after its last hello, checked every 2 s); it has no goodbye, so SIGTERM
// only stops it.
//
//   node bench/node-discover-agent.js NAME BROADCAST_ADDRESS
import Discover from 'node-discover';

const [name, broadcast] = process.argv.slice(2);
if (!name || !broadcast) {
  process.stderr.write('usage: node bench/node-discover-agent.js NAME BROADCAST_ADDRESS\n');
  process.exit(2);
}
const print = (fields) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);

const discover = new Discover({ hostname: name, broadcast }, (error) => {
  if (error) {
    process.stderr.write(`node-discover: ${error.message}\n`);
    process.exit(1);
  }
  print({ event: 'AgentStarted', node: name });
});
discover.on('added', (node) => print({ event: 'PeerUp', peer: node.hostName, address: node.address }));
discover.on('removed', (node) => print({ event: 'PeerDown', peer: node.hostName, reason: 'failed' }));
process.on('SIGTERM', () => {
  discover.stop();
  process.exit(0);
});
