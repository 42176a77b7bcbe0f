import { describe, expect, it } from 'vitest';
import { checkTargets, consoleTable, markdown, svgChart } from './report.js';
import type { PhaseMetrics, ServerResult } from './run.js';
import { SERVERS } from './servers.js';

const phase = (rate: number, cpuPerDelivery: number): PhaseMetrics => ({
  received: 100,
  expected: 100,
  rate,
  p50: 5,
  p99: 20,
  max: 30,
  ms: 10,
  cpuPerDelivery,
  systemCpuPerDelivery: cpuPerDelivery / 2,
  loadgenCpuPerDelivery: 1,
  stale: 0,
});

const result = (name: string, rate: number, rss: number, cpu: number): ServerResult => ({
  spec: SERVERS.find((s) => s.name === name)!,
  status: 'ok',
  clients: 100,
  rssPerClient: rss,
  heapPerClient: rss / 2,
  burst: phase(rate, cpu),
  steady: phase(10, cpu),
  unicast: phase(rate / 2, cpu),
  group: phase(rate, cpu),
});

describe('report', () => {
  const results = [
    result('raw-node', 500_000, 10_000, 2),
    result('ssehub-node', 600_000, 11_000, 1),
    result('better-sse', 100_000, 20_000, 6),
  ];

  it('checks the targets that can be evaluated', () => {
    const targets = checkTargets(results);
    const floor = targets.find((t) => t.label === 'node adapter burst throughput vs raw floor')!;
    expect(floor.value).toBeCloseTo(1.2);
    expect(floor.met).toBe(true);
    expect(floor.cpuValue).toBeCloseTo(2);
    const rss = targets.find((t) => t.label === 'node adapter RSS/conn vs better-sse')!;
    expect(rss.value).toBeCloseTo(0.55);
    expect(targets.find((t) => t.label.includes('vs h3'))!.met).toBeUndefined();
    expect(targets.find((t) => t.label.startsWith('ssehub-node steady'))!.met).toBe(true);
  });

  it('renders the table, Markdown and SVG', () => {
    expect(consoleTable(results)).toContain('ssehub-node');
    const md = markdown(results, ['clients 100'], checkTargets(results));
    expect(md).toContain('| ssehub-node / better-sse |');
    expect(md).toContain('## Targets');
    const svg = svgChart(results, 'test <run>');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('test &lt;run&gt;');
  });
});
