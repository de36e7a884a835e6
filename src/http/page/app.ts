/**
 * The cluster page: member table, adapter statechart, timeline and metrics,
 * kept live by the agent's event stream. Bundled with its libraries into
 * dist/page at build time, so it needs nothing from the network.
 */
import ELK, { type ElkExtendedEdge, type ElkNode } from 'elkjs/lib/elk-api.js';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

import type { PeerInfo as Peer } from '../../discovery/types.js';
import type { MemberRow, MemberStatus as Status } from '../members.js';
import type { Statechart } from '../statechart.js';

/** A member row as the server sends it, with when it last changed and whether it is this node. */
type Row = MemberRow & { readonly changed: number; readonly self?: boolean };

const $ = <T extends Element = HTMLElement>(selector: string) => document.querySelector(selector) as T;
const api = (path: string) => new URL(path, location.href);
// Same-origin requests carry the session cookie (HttpOnly: no script here ever sees it).
const get = (path: string) => fetch(api(path));

/**
 * Signs in with the token in the URL's fragment (which the browser never
 * sends), then drops it from the address bar and history: from here on the
 * session cookie does the work, and the token is nowhere in the page.
 */
async function signIn(): Promise<void> {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!token) return;
  history.replaceState(null, '', location.pathname + location.search);
  const answer = await fetch(api('v1/login'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (!answer.ok) $('#connection').textContent = 'wrong token in the URL';
}

// ---------------------------------------------------------------- members

const rows = new Map<string, Row>();
const rtt = new Map<string, number>();
/** Members answering probes over TCP only (their UDP port blocked?), from the metrics. */
const udpUnreachable = new Set<string>();
let sortKey = 'name';
let sortDir = 1;

function upsert(peer: Peer, status: Status, at: number, self = false): void {
  const previous = rows.get(peer.id);
  const row: Row = { name: peer.id, address: peer.address ?? null, status, metadata: peer.metadata, changed: at, self: self || previous?.self };
  const same = previous && previous.status === row.status && previous.address === row.address && JSON.stringify(previous.metadata) === JSON.stringify(row.metadata);
  rows.set(peer.id, same ? previous : row);
  schedule();
}

const metaText = (m: Record<string, string>) => Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ');

function visibleRows(): Row[] {
  const status = $<HTMLSelectElement>('#status-filter').value;
  const meta = $<HTMLInputElement>('#meta-filter').value.trim();
  const [mk, mv] = meta.includes('=') ? [meta.slice(0, meta.indexOf('=')), meta.slice(meta.indexOf('=') + 1)] : [undefined, undefined];
  const value = (r: Row): string | number =>
    sortKey === 'changed' ? r.changed : sortKey === 'rtt' ? (rtt.get(r.name) ?? Infinity) : sortKey === 'metadata' ? metaText(r.metadata) : String(r[sortKey as 'name'] ?? '');
  return [...rows.values()]
    .filter((r) => !status || r.status === status)
    .filter((r) => !meta || (mk !== undefined ? r.metadata[mk] === mv : metaText(r.metadata).includes(meta)))
    .sort((a, b) => (value(a) < value(b) ? -sortDir : value(a) > value(b) ? sortDir : 0));
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderTable(): void {
  const body = $('#members tbody');
  body.replaceChildren(
    ...visibleRows().map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.name = r.name;
      tr.dataset.status = r.status;
      // A departed member's last round trip says nothing about it now.
      const live = r.status === 'alive' || r.status === 'suspect';
      const probe = live ? rtt.get(r.name) : undefined;
      const udpBlocked = live && udpUnreachable.has(r.name);
      if (udpBlocked) tr.dataset.udp = 'unreachable';
      tr.append(
        cell(r.self ? `${r.name} (self)` : r.name, 'name'),
        cell(r.address ?? '-'),
        cell(udpBlocked ? `${r.status} · UDP unreachable` : r.status, 'status'),
        cell(metaText(r.metadata) || '-', 'metadata'),
        cell(probe === undefined ? '-' : `${probe.toFixed(1)} ms`, 'rtt'),
        cell(new Date(r.changed).toLocaleTimeString(), 'changed'),
      );
      return tr;
    }),
  );
  const counts = { alive: 0, suspect: 0, left: 0, failed: 0 };
  for (const r of rows.values()) counts[r.status]++;
  $('#counts').textContent = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(' · ');
}

let pending = false;
function schedule(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    renderTable();
  });
}

for (const th of document.querySelectorAll<HTMLElement>('th[data-sort]')) {
  th.addEventListener('click', () => {
    sortDir = sortKey === th.dataset.sort ? -sortDir : 1;
    sortKey = th.dataset.sort!;
    for (const other of document.querySelectorAll<HTMLElement>('th[data-sort]')) delete other.dataset.dir;
    th.dataset.dir = sortDir > 0 ? 'asc' : 'desc';
    renderTable();
  });
}
$('#status-filter').addEventListener('change', renderTable);
$('#meta-filter').addEventListener('input', renderTable);

// ---------------------------------------------------------------- statechart

const SVG = 'http://www.w3.org/2000/svg';
let currentState = '';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

async function drawStatechart(chart: Statechart): Promise<void> {
  const textWidth = (s: string, px: number) => s.length * px * 0.6 + 8;
  const ids = chart.states.map((s) => s.id);
  if (chart.transitions.some((t) => t.from === '*')) ids.unshift('*');
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.edgeRouting': 'POLYLINE',
      'elk.layered.spacing.nodeNodeBetweenLayers': '60',
      'elk.spacing.edgeLabel': '2',
      'elk.edgeLabels.inline': 'false',
    },
    children: ids.map((id) => ({ id, width: textWidth(id === '*' ? 'any state' : id, 12) + 16, height: 34 })),
    // One line per event on an edge.
    edges: chart.transitions.map((t, i): ElkExtendedEdge => ({
      id: `e${i}`,
      sources: [t.from],
      targets: [t.to],
      labels: [{ text: t.events.join('\n'), width: Math.max(...t.events.map((e) => textWidth(e, 9))), height: 11 * t.events.length }],
    })),
  };
  // The layout engine is large: it loads and runs in a worker, so the table and the stream never wait for it.
  const elk = new ELK({ workerUrl: 'elk-worker.js' });
  const laid = await elk.layout(graph);
  elk.terminateWorker();
  const root = svg('svg', { viewBox: `0 0 ${laid.width ?? 600} ${laid.height ?? 300}`, role: 'img' });
  const defs = svg('defs', {});
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#8a94a6' }));
  defs.append(marker);
  root.append(defs);
  for (const edge of laid.edges ?? []) {
    const g = svg('g', { class: 'edge' });
    for (const section of edge.sections ?? []) {
      const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
      g.append(svg('path', { d: points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' ') }));
    }
    for (const label of edge.labels ?? []) {
      const text = svg('text', {});
      (label.text ?? '').split('\n').forEach((line, i) => text.append(svg('tspan', { x: label.x ?? 0, y: (label.y ?? 0) + 9 + 11 * i }, line)));
      g.append(text);
    }
    root.append(g);
  }
  for (const node of laid.children ?? []) {
    const g = svg('g', { class: `state${node.id === '*' ? ' any' : ''}`, 'data-state': node.id, transform: `translate(${node.x ?? 0},${node.y ?? 0})` });
    g.append(svg('rect', { width: node.width ?? 0, height: node.height ?? 0 }));
    g.append(svg('text', { x: 8, y: 21 }, node.id === '*' ? 'any state' : node.id));
    root.append(g);
  }
  $('#statechart').replaceChildren(root);
  highlight(currentState);
}

function highlight(state: string): void {
  currentState = state;
  for (const g of document.querySelectorAll('#statechart .state')) {
    const on = g.getAttribute('data-state') === state;
    g.classList.toggle('current', on);
    if (on) g.setAttribute('aria-current', 'step');
    else g.removeAttribute('aria-current');
  }
}

// ---------------------------------------------------------------- timeline

const WINDOW_S = 600;
const series: number[][] = [[], [], [], [], [], []];
const tally = { joins: 0, leaves: 0, failures: 0, updates: 0 };
const plot = new uPlot(
  {
    width: 560,
    height: 220,
    series: [
      {},
      { label: 'alive', stroke: '#2c7a4b', width: 2 },
      // Event bars are stacked: each series holds its count plus those drawn after it, so none hides another.
      { label: 'failures', stroke: '#c53030', paths: uPlot.paths.bars!({ size: [0.6, 8] }), fill: '#c53030' },
      { label: 'leaves', stroke: '#7a8190', paths: uPlot.paths.bars!({ size: [0.6, 8] }), fill: '#7a8190' },
      { label: 'joins', stroke: '#3182ce', paths: uPlot.paths.bars!({ size: [0.6, 8] }), fill: '#3182ce' },
      { label: 'updates', stroke: '#b7791f', paths: uPlot.paths.bars!({ size: [0.6, 8] }), fill: '#b7791f' },
    ],
    axes: [{}, { label: 'members' }],
  },
  series as uPlot.AlignedData,
  $('#timeline'),
);

function sample(): void {
  const now = Date.now() / 1000;
  let alive = 0;
  for (const r of rows.values()) if (r.status === 'alive' || r.status === 'suspect') alive++;
  const { updates, joins, leaves, failures } = tally;
  const point = [now, alive, failures + leaves + joins + updates, leaves + joins + updates, joins + updates, updates];
  tally.joins = tally.leaves = tally.failures = tally.updates = 0;
  point.forEach((v, i) => series[i]!.push(v));
  while (series[0]!.length > 0 && series[0]![0]! < now - WINDOW_S) for (const s of series) s.shift();
  plot.setData(series as uPlot.AlignedData);
  $('#timeline').dataset.points = String(series[0]!.length);
}
setInterval(sample, 1000);

// ---------------------------------------------------------------- metrics

interface MetricsBody {
  metrics: {
    syncCount: number;
    syncFailures: number;
    errorRate: number;
    backend: Record<string, number>;
    probeRttMs?: Record<string, number>;
    udpUnreachable?: string[];
  };
}

function showMetrics(body: MetricsBody): void {
  const { metrics } = body;
  const b = metrics.backend;
  const entries: [string, string][] = [
    ['syncs', String(metrics.syncCount)],
    ['sync failures', String(metrics.syncFailures)],
    ['error rate', `${(metrics.errorRate * 100).toFixed(1)} %`],
  ];
  if (b.packetsIn !== undefined) {
    entries.push(
      ['traffic', b.sealed ? 'sealed' : 'unsealed (no keys: anyone reaching the port can join)'],
      ['packets in / out', `${b.packetsIn} / ${b.packetsOut}`],
      ['bytes in / out', `${b.bytesIn} / ${b.bytesOut}`],
      ['malformed (packets, streams, unopened)', `${b.malformedPackets ?? 0}, ${b.malformedStreams ?? 0}, ${b.unopenedMessages ?? 0}`],
      ['dropped (label, incarnation, new members, conflicts)', `${b.labelMismatches ?? 0}, ${b.claimsOutOfWindow ?? 0}, ${b.newMembersDropped ?? 0}, ${b.conflicts ?? 0}`],
      ['suspicions / refutations', `${b.suspicions ?? 0} / ${b.refutations ?? 0}`],
      ['unreachable over UDP', String(b.udpUnreachableMembers ?? 0)],
    );
  }
  $('#metrics').replaceChildren(
    ...entries.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dd.dataset.metric = k;
      return [dt, dd];
    }),
  );
  rtt.clear();
  for (const [id, ms] of Object.entries(metrics.probeRttMs ?? {})) rtt.set(id, ms);
  udpUnreachable.clear();
  for (const id of metrics.udpUnreachable ?? []) udpUnreachable.add(id);
  schedule();
}

async function pollMetrics(): Promise<void> {
  try {
    const response = await get('v1/metrics');
    if (response.ok) showMetrics((await response.json()) as MetricsBody);
  } catch {
    // The agent is away; the event stream shows that, and the next poll retries.
  }
}
setInterval(() => void pollMetrics(), 2000);

// ---------------------------------------------------------------- event stream

function connect(): void {
  const source = new EventSource(api('v1/events'));
  const connection = $('#connection');
  source.addEventListener('open', () => {
    connection.dataset.connected = 'true';
    connection.textContent = 'live';
    // The stream replays the live peers: forget ours, keep those that went away.
    for (const [name, r] of rows) if (r.status === 'alive' || r.status === 'suspect') rows.delete(name);
    void pollMetrics();
    void get('v1/members')
      .then((r) => (r.ok ? (r.json() as Promise<Row[]>) : []))
      .then((list) => {
        for (const m of list) if ((m.status === 'left' || m.status === 'failed') && !rows.has(m.name)) rows.set(m.name, { ...m, changed: Date.now() });
        schedule();
      })
      .catch(() => undefined);
    schedule();
  });
  source.addEventListener('error', () => {
    connection.dataset.connected = 'false';
    connection.textContent = 'reconnecting…';
    // Refused rather than away: say how to sign in.
    void get('v1/metrics')
      .then((r) => {
        if (r.status === 401) connection.textContent = 'not signed in: open the page from the URL the agent printed';
      })
      .catch(() => undefined);
  });
  const on = (type: string, handle: (data: { at: number } & Record<string, unknown>) => void) =>
    source.addEventListener(type, (e) => handle(JSON.parse((e as MessageEvent<string>).data)));
  on('Health', (d) => {
    const status = d.status as { type: string; reason?: string };
    const self = d.self as Peer;
    upsert(self, 'alive', d.at, true);
    $('#self').textContent = `${self.id} ${self.address ?? ''}`;
    const health = $('#health');
    health.dataset.health = status.type;
    health.textContent = status.type;
    $('#reason').textContent = `${d.state as string}${status.reason ? `: ${status.reason}` : ''}`;
    highlight(d.state as string);
  });
  on('PeerUp', (d) => {
    const peer = d.peer as Peer;
    if (!rows.has(peer.id) || rows.get(peer.id)!.status === 'left' || rows.get(peer.id)!.status === 'failed') tally.joins++;
    upsert(peer, peer.status ?? 'alive', d.at);
  });
  on('PeerUpdate', (d) => {
    tally.updates++;
    const peer = d.peer as Peer;
    upsert(peer, peer.status ?? 'alive', d.at);
  });
  on('PeerSuspicion', (d) => {
    const peer = d.peer as Peer;
    upsert(peer, peer.status ?? 'alive', d.at);
  });
  on('PeerDown', (d) => {
    const left = (d.reason as { type: string }).type === 'Left';
    if (left) tally.leaves++;
    else tally.failures++;
    upsert(d.peer as Peer, left ? 'left' : 'failed', d.at);
  });
}

void signIn()
  .catch(() => undefined)
  .then(() => {
    void get('v1/statechart')
      .then((r) => r.json() as Promise<Statechart>)
      .then(drawStatechart)
      .catch((error: unknown) => ($('#statechart').textContent = `Cannot draw the statechart: ${String(error)}`));
    connect();
  });
sample();
