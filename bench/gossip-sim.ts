/**
 * The gossip protocol in the simulated network, `lan` profile, N = 10, 100,
 * 1,000 and 10,000, several seeds each:
 * - a join: time until every member sees the newcomer alive;
 * - a host crash (stops answering): time until every member has failed it;
 * - a process death on a live host (the transport's peerGone hint): the same;
 * - idle load per member: packets, messages and bytes sent per second over
 *   UDP, and push-pull (TCP) apart.
 * One-way delay 0.5 to 1.5 ms, no loss. Each cluster starts converged (built
 * directly, no join traffic) and runs 5 s before measuring.
 *
 * N = 10,000 runs in a child process with a larger heap; its member records
 * are shared between the cores, but each core still holds a 10,000-entry
 * table, so a run needs several GB.
 *
 *   node --import tsx bench/gossip-sim.ts            (writes bench/results/gossip-sim.json)
 *   node --import tsx bench/gossip-sim.ts 10 100     (only these sizes; prints, writes nothing)
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { round, simTrial, stats, writeResults } from './support.js';

const SIZES = [10, 100, 1000, 10_000];
const TRIALS: Record<number, number> = { 10: 30, 100: 30, 1000: 20, 10_000: 5 };
const IDLE_WINDOW_MS: Record<number, number> = { 10: 60_000, 100: 60_000, 1000: 30_000, 10_000: 20_000 };

interface Trial {
  seed: number;
  joinMs: number;
  crashMs: number;
  killMs: number;
  falseFailures: number;
  packetsPerSecond: number;
  messagesPerSecond: number;
  udpBytesPerSecond: number;
  pushPullsPerSecond: number;
  pushPullBytesPerSecond: number;
  buildSeconds: number;
  wallSeconds: number;
  heapMiB: number;
}

function trial(n: number, seed: number): Trial {
  const { sim, names, buildSeconds, wallSeconds } = simTrial(seed, n);

  // Idle load: the mean per member over the window (push-pulls are rare per member, so a median would say 0).
  const totals = () => {
    let packets = 0;
    let messages = 0;
    let udpBytes = 0;
    let streams = 0;
    let streamBytes = 0;
    for (const m of sim.members.values()) {
      packets += m.packetsSent;
      messages += m.messagesSent;
      udpBytes += m.udpBytesSent;
      streams += m.streamsSent;
      streamBytes += m.streamBytesSent;
    }
    return { packets, messages, udpBytes, streams, streamBytes };
  };
  const window = IDLE_WINDOW_MS[n] ?? 30_000;
  const before = totals();
  sim.runFor(window);
  const after = totals();
  const perMemberPerSecond = (a: number, b: number) => ((a - b) * 1000) / window / n;

  let falseFailures = 0;
  let victim = '';
  let failedVictim = 0;
  let doneAt = Number.NaN;
  let joinSeen = 0;
  sim.onEvent((e) => {
    if (e.event.type === 'join' && e.event.member.id === 'newcomer') joinSeen++;
    if (e.event.type !== 'fail') return;
    if (e.event.member.id !== victim) falseFailures++;
    else if (++failedVictim === sim.members.size - 2) doneAt = e.at;
  });

  // A join reaching everyone (all n members see the newcomer).
  const joinStart = sim.now;
  sim.addMember('newcomer', { seeds: [names[1]!] });
  sim.runUntil(() => joinSeen >= n, 30_000, 1);
  const joinMs = joinSeen >= n ? sim.now - joinStart : Number.NaN;
  sim.runFor(5000);

  // A host that stops answering, failed by all the others (n − 1 plus the newcomer).
  const measureDeath = (name: string, how: 'crash' | 'kill', maxMs: number) => {
    victim = name;
    failedVictim = 0;
    doneAt = Number.NaN;
    const start = sim.now;
    if (how === 'crash') sim.crash(name);
    else sim.kill(name);
    sim.runUntil(() => !Number.isNaN(doneAt), maxMs, how === 'crash' ? 10 : 1);
    return doneAt - start;
  };
  const crashMs = measureDeath(names[Math.floor(n / 2)]!, 'crash', 60_000);
  sim.runFor(5000);
  // A process that dies on a live host: the peers watching it learn at once.
  const killMs = measureDeath(names[Math.floor(n / 3)]!, 'kill', 60_000);

  return {
    seed,
    joinMs,
    crashMs,
    killMs,
    falseFailures,
    packetsPerSecond: perMemberPerSecond(after.packets, before.packets),
    messagesPerSecond: perMemberPerSecond(after.messages, before.messages),
    udpBytesPerSecond: perMemberPerSecond(after.udpBytes, before.udpBytes),
    pushPullsPerSecond: perMemberPerSecond(after.streams, before.streams),
    pushPullBytesPerSecond: perMemberPerSecond(after.streamBytes, before.streamBytes),
    buildSeconds,
    wallSeconds: wallSeconds(),
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

function summarize(n: number, runs: Trial[]) {
  return {
    trials: runs.length,
    seeds: runs.map((r) => r.seed),
    joinSeenByAllMs: stats(runs.map((r) => r.joinMs)),
    hostCrashFailedByAllMs: stats(runs.map((r) => r.crashMs)),
    processDeathFailedByAllMs: stats(runs.map((r) => r.killMs)),
    falseFailures: runs.reduce((s, r) => s + r.falseFailures, 0),
    idlePerMemberPerSecond: {
      udpPackets: stats(runs.map((r) => r.packetsPerSecond)),
      udpMessages: stats(runs.map((r) => r.messagesPerSecond)),
      udpBytes: stats(runs.map((r) => r.udpBytesPerSecond)),
      pushPullFrames: stats(runs.map((r) => r.pushPullsPerSecond)),
      pushPullBytes: stats(runs.map((r) => r.pushPullBytesPerSecond)),
    },
    wallSecondsPerTrial: stats(runs.map((r) => r.wallSeconds)),
    buildSecondsPerTrial: stats(runs.map((r) => r.buildSeconds)),
    heapMiBAfterTrial: stats(runs.map((r) => r.heapMiB)),
    ...(n === 10_000 ? { note: 'Run in a child process (--max-old-space-size=16384); few trials, so p99 is the worst trial.' } : {}),
  };
}

function runSize(n: number): Trial[] {
  const runs: Trial[] = [];
  for (let i = 0; i < (TRIALS[n] ?? 3); i++) {
    if (n >= 10_000) {
      // A fresh process per trial, with room for 10,000 member tables.
      const out = execFileSync(process.execPath, ['--max-old-space-size=16384', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(n), String(1000 + i)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 20,
      });
      runs.push(JSON.parse(out) as Trial);
    } else {
      runs.push(trial(n, 1000 + i));
    }
    const last = runs[runs.length - 1]!;
    console.error(`  N=${n} seed ${last.seed}: join ${round(last.joinMs)} ms, crash ${round(last.crashMs)} ms, kill ${round(last.killMs)} ms, wall ${round(last.wallSeconds)} s`);
  }
  return runs;
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  process.stdout.write(JSON.stringify(trial(Number(args[1]), Number(args[2]))));
} else {
  const sizes = args.length > 0 ? args.map(Number) : SIZES;
  const figures: Record<string, ReturnType<typeof summarize>> = {};
  for (const n of sizes) {
    figures[`N=${n}`] = summarize(n, runSize(n));
  }
  const rows = Object.entries(figures).map(([size, f]) => ({
    size,
    'join→all ms (med/p99)': `${f.joinSeenByAllMs.median} / ${f.joinSeenByAllMs.p99}`,
    'crash→all failed ms': `${f.hostCrashFailedByAllMs.median} / ${f.hostCrashFailedByAllMs.p99}`,
    'process death→all ms': `${f.processDeathFailedByAllMs.median} / ${f.processDeathFailedByAllMs.p99}`,
    'false fails': f.falseFailures,
    'pkts/s': f.idlePerMemberPerSecond.udpPackets.median,
    'msgs/s': f.idlePerMemberPerSecond.udpMessages.median,
    'UDP B/s': f.idlePerMemberPerSecond.udpBytes.median,
    'push-pull B/s': f.idlePerMemberPerSecond.pushPullBytes.median,
  }));
  console.table(rows);
  if (args.length === 0) {
    const file = writeResults('gossip-sim', 'node --import tsx bench/gossip-sim.ts', {
      profile: 'lan',
      network: 'one-way delay 0.5–1.5 ms, no loss; clusters start converged',
      ...figures,
    });
    console.log(`written to ${file}`);
  }
}
