/**
 * The Kubernetes example cannot run here, so this checks what can be
 * checked: the manifests parse, name the ports and flags the command really
 * has, and agree with each other (Service ↔ pods ↔ agent flags ↔ probe); and
 * the agent runs with the manifest's very arguments, only the addresses
 * moved to loopback, and answers the readiness probe's request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { freePort } from './support/processes.js';
import { killAll, runCli, startCli } from './support/cli.js';

afterEach(killAll);

const dir = join(import.meta.dirname, '..', 'examples', 'kubernetes');

interface Port {
  name?: string;
  port?: number;
  containerPort?: number;
  targetPort?: string | number;
  protocol?: string;
}
interface Container {
  args: string[];
  ports: Port[];
  env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  readinessProbe: { httpGet: { path: string; port: string | number } };
}

function load(file: string): Record<string, unknown>[] {
  const documents = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  const list = Array.isArray(documents) ? documents : [documents];
  for (const document of list) expect(document.errors, `${file} parses as YAML`).toEqual([]);
  return list.map((document) => document.toJS() as Record<string, unknown>);
}

const service = load('service.yaml')[0] as {
  kind: string;
  metadata: { name: string };
  spec: { clusterIP: string; publishNotReadyAddresses: boolean; selector: Record<string, string>; ports: Port[] };
};
const deployment = load('deployment.yaml')[0] as {
  kind: string;
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } } };
};
const container = deployment.spec.template.spec.containers[0]!;
const args = container.args;
const flag = (name: string) => {
  const at = args.indexOf(name);
  expect(at, `${name} in the agent's args`).toBeGreaterThan(-1);
  return args[at + 1]!;
};
const containerPort = (name: string | number | undefined) => container.ports.find((p) => p.name === name)?.containerPort;

describe('examples/kubernetes', () => {
  it('the Service is headless, publishes pods before they are ready, and selects the pods', () => {
    expect(service.kind).toBe('Service');
    expect(service.spec.clusterIP).toBe('None');
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    expect(deployment.kind).toBe('Deployment');
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    // Every port of the Service reaches a named port of the pod, at the same number.
    for (const port of service.spec.ports) expect(containerPort(port.targetPort)).toBe(port.port);
  });

  it('every flag the agent is given exists in distribute agent --help', async () => {
    const help = await runCli(['agent', '--help']);
    expect(help.code).toBe(0);
    const known = new Set(help.stdout.match(/--[a-z][a-z-]*/g));
    const used = args.filter((a) => a.startsWith('--'));
    expect(used.length).toBeGreaterThan(4);
    for (const name of used) expect(known, `${name} is a flag of distribute agent`).toContain(name);
    expect(args[0]).toBe('agent');
  });

  it('the flags agree with the Service, the pod ports, the downward API and the probe', () => {
    const gossip = service.spec.ports.find((p) => p.protocol === 'TCP' && p.name === 'gossip')!;
    expect(flag('--join')).toBe(`dns+srv:_${gossip.name}._tcp.${service.metadata.name}.$(POD_NAMESPACE).svc.cluster.local`);
    expect(flag('--bind')).toBe(`0.0.0.0:${containerPort('gossip')}`);
    expect(flag('--advertise')).toBe(`$(POD_IP):${containerPort('gossip')}`);
    expect(container.ports.filter((p) => p.containerPort === containerPort('gossip')).map((p) => p.protocol).sort()).toEqual(['TCP', 'UDP']);
    const fromPod = Object.fromEntries(container.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(fromPod).toMatchObject({ POD_IP: 'status.podIP', POD_NAMESPACE: 'metadata.namespace', POD_NAME: 'metadata.name' });
    expect(container.readinessProbe.httpGet.path).toBe('/v1/health');
    expect(flag('--control')).toBe(`0.0.0.0:${containerPort(container.readinessProbe.httpGet.port)}`);
  });

  it('the agent runs with the manifest arguments (addresses moved to loopback) and answers the readiness probe', async () => {
    const port = await freePort();
    const local = args.map((a) =>
      a
        .replace('$(POD_NAME)', 'pod-0')
        .replace('$(POD_NAMESPACE)', 'default')
        .replace('$(POD_IP)', '127.0.0.1')
        .replace(/^0\.0\.0\.0:7946$/, `127.0.0.1:${port}`)
        .replace(/^127\.0\.0\.1:7946$/, `127.0.0.1:${port}`)
        .replace(/^0\.0\.0\.0:7373$/, '127.0.0.1:0'),
    );
    // No cluster DNS here: the seed lookups fail, and with --join-timeout 0 the agent keeps running regardless.
    const agent = startCli(local);
    const started = await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start');
    expect(started).toMatchObject({ node: 'pod-0', address: `127.0.0.1:${port}`, adapter: 'gossip' });
    const response = await fetch(`http://${started.control as string}${container.readinessProbe.httpGet.path}`);
    // Ready (200) only when Up; alone and without cluster DNS it is not yet, and says why (503).
    const health = (await response.json()) as { type: string; reason?: string };
    expect(health.type).toMatch(/^(Up|Degraded|Down)$/);
    expect(response.status).toBe(health.type === 'Up' ? 200 : 503);
    if (health.type !== 'Up') expect(health.reason).toBeTruthy();
    expect(agent.child.exitCode).toBeNull();
  });

  it('the image runs the command the package installs', () => {
    const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const entry = /^ENTRYPOINT \["([^"]+)"\]$/m.exec(dockerfile)?.[1];
    expect(Object.keys(pkg.bin)).toContain(entry);
  });
});
