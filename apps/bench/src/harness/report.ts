/** Turns results into the console table, the Markdown report, the SVG chart and target verdicts. */
import type { ServerResult } from './run.js';
import { formatCount, formatKiB, formatMs, formatRatio, ratio } from './stats.js';

/** The floor each server is compared with: the raw server on the same runtime. */
export const FLOOR_OF: Record<string, string> = {
  node: 'raw-node',
  bun: 'bun-raw',
  deno: 'deno-raw',
};

export interface TargetCheck {
  label: string;
  value: number;
  limit: number;
  op: '>=' | '<=';
  unit: 'x' | 'ms';
  /** undefined when a server it needs did not run. */
  met: boolean | undefined;
  /**
   * For throughput targets: the same ratio computed from server CPU per delivery (b's µs over
   * a's), which holds even when other work on the machine skewed the throughput.
   */
  cpuValue?: number;
}

type Metric = (r: ServerResult) => number | undefined;
type Phase = 'burst' | 'unicast' | 'many' | 'group' | 'steady';
const burstRate: Metric = (r) => r.burst?.rate;
const unicastRate: Metric = (r) => r.unicast?.rate;
const manyRate: Metric = (r) => r.many?.rate;
/** The phase whose server CPU per delivery restates a throughput ratio. */
const PHASE_OF = new Map<Metric, Phase>([
  [burstRate, 'burst'],
  [unicastRate, 'unicast'],
  [manyRate, 'many'],
]);
const rssPerClient: Metric = (r) => r.rssPerClient;
const steadyP99: Metric = (r) => r.steady?.p99;

/** The issue's targets, evaluated on whatever ran. */
export function checkTargets(results: ServerResult[]): TargetCheck[] {
  const by = new Map(results.filter((r) => r.status === 'ok').map((r) => [r.spec.name, r]));
  const checks: TargetCheck[] = [];
  const rel = (
    label: string,
    a: string,
    b: string,
    metric: Metric,
    op: '>=' | '<=',
    limit: number,
  ): void => {
    const ra = by.get(a);
    const rb = by.get(b);
    const value = ra && rb ? ratio(metric(ra), metric(rb)) : Number.NaN;
    const phase = PHASE_OF.get(metric);
    checks.push({
      label,
      value,
      limit,
      op,
      unit: 'x',
      met: Number.isFinite(value) ? (op === '>=' ? value >= limit : value <= limit) : undefined,
      ...(phase && ra && rb
        ? { cpuValue: ratio(rb[phase]?.cpuPerDelivery, ra[phase]?.cpuPerDelivery) }
        : {}),
    });
  };
  rel(
    'node adapter burst throughput vs raw floor',
    'ssehub-node',
    'raw-node',
    burstRate,
    '>=',
    1.0,
  );
  rel('node adapter RSS/conn vs raw floor', 'ssehub-node', 'raw-node', rssPerClient, '<=', 1.05);
  rel('node adapter unicast vs raw floor', 'ssehub-node', 'raw-node', unicastRate, '>=', 1.2);
  rel('node adapter sendMany vs raw floor', 'ssehub-node', 'raw-node', manyRate, '>=', 2);
  // Issue 13: HTTP/2 (10 000 streams over 200 connections) against the HTTP/1.1 node adapter.
  rel(
    'node adapter HTTP/2 burst vs HTTP/1.1',
    'ssehub-node-h2',
    'ssehub-node',
    burstRate,
    '>=',
    0.5,
  );
  rel(
    'node adapter HTTP/2 RSS/stream vs HTTP/1.1 RSS/conn',
    'ssehub-node-h2',
    'ssehub-node',
    rssPerClient,
    '<=',
    1,
  );
  // Fastify and Hono on Node take the node adapter's write path: within 1.2x of it.
  for (const name of ['ssehub-fastify', 'ssehub-hono']) {
    rel(`${name} burst vs node adapter`, name, 'ssehub-node', burstRate, '>=', 0.83);
    rel(`${name} steady p99 vs node adapter`, name, 'ssehub-node', steadyP99, '<=', 1.2);
  }
  rel('fetch adapter on Node burst vs h3', 'ssehub-fetch-node', 'h3', burstRate, '>=', 4);
  rel('fetch adapter on Node burst vs Hono', 'ssehub-fetch-node', 'hono', burstRate, '>=', 4);
  rel('fetch adapter on Bun burst vs Bun floor', 'bun-ssehub', 'bun-raw', burstRate, '>=', 0.8);
  rel('fetch adapter on Deno burst vs Deno floor', 'deno-ssehub', 'deno-raw', burstRate, '>=', 0.8);
  rel('node adapter burst vs better-sse', 'ssehub-node', 'better-sse', burstRate, '>=', 3);
  rel('node adapter RSS/conn vs better-sse', 'ssehub-node', 'better-sse', rssPerClient, '<=', 0.6);
  for (const name of [
    'ssehub-node',
    'ssehub-fetch-node',
    'ssehub-fastify',
    'ssehub-hono',
    'bun-ssehub',
    'deno-ssehub',
  ]) {
    const r = by.get(name);
    const value = r?.steady?.p99 ?? Number.NaN;
    const complete = r?.steady ? r.steady.received === r.steady.expected : false;
    checks.push({
      label: `${name} steady p99 (all delivered)`,
      value,
      limit: 100,
      op: '<=',
      unit: 'ms',
      met: r?.steady ? Number.isFinite(value) && value <= 100 && complete : undefined,
    });
  }
  return checks;
}

function verdict(c: TargetCheck): string {
  return c.met === undefined ? 'not run' : c.met ? 'met' : 'MISSED';
}

function fmtTargetValue(c: TargetCheck): string {
  if (!Number.isFinite(c.value)) return '—';
  return c.unit === 'x' ? formatRatio(c.value) : `${formatMs(c.value)} ms`;
}

const COLUMNS = [
  'server',
  'conns',
  'other CPU',
  'RSS KiB/conn',
  'heap KiB/conn',
  'burst /s',
  'burst p50 ms',
  'burst p99 ms',
  'burst CPU µs/del',
  'steady p50 ms',
  'steady p99 ms',
  'unicast /s',
  'unicast CPU µs/del',
  'many /s',
  'many CPU µs/del',
  'group /s',
  'burst vs floor',
];

function missingNote(r: ServerResult): string {
  const parts: string[] = [];
  for (const [name, m] of [
    ['burst', r.burst],
    ['steady', r.steady],
    ['unicast', r.unicast],
    ['many', r.many],
    ['group', r.group],
  ] as const) {
    if (m && m.received < m.expected) parts.push(`${name} lost ${m.expected - m.received}`);
  }
  return parts.join(', ');
}

/** One row per server. */
export function tableRows(results: ServerResult[]): string[][] {
  const by = new Map(results.map((r) => [r.spec.name, r]));
  return results.map((r) => {
    if (r.status !== 'ok') {
      return [r.spec.name, r.status, ...COLUMNS.slice(2).map(() => '')];
    }
    const floor = by.get(FLOOR_OF[r.spec.runtime]!);
    const vsFloor = floor === r ? '1.00x' : formatRatio(ratio(r.burst?.rate, floor?.burst?.rate));
    return [
      r.spec.name,
      String(r.clients ?? ''),
      r.backgroundCpu === undefined || Number.isNaN(r.backgroundCpu)
        ? '—'
        : `${(r.backgroundCpu * 100).toFixed(0)}%`,
      formatKiB(r.rssPerClient ?? Number.NaN),
      formatKiB(r.heapPerClient ?? Number.NaN),
      formatCount(r.burst?.rate ?? Number.NaN),
      formatMs(r.burst?.p50 ?? Number.NaN),
      formatMs(r.burst?.p99 ?? Number.NaN),
      formatMs(r.burst?.cpuPerDelivery ?? Number.NaN),
      formatMs(r.steady?.p50 ?? Number.NaN),
      formatMs(r.steady?.p99 ?? Number.NaN),
      formatCount(r.unicast?.rate ?? Number.NaN),
      formatMs(r.unicast?.cpuPerDelivery ?? Number.NaN),
      formatCount(r.many?.rate ?? Number.NaN),
      formatMs(r.many?.cpuPerDelivery ?? Number.NaN),
      formatCount(r.group?.rate ?? Number.NaN),
      vsFloor,
    ];
  });
}

/** Plain-text table with aligned columns. */
export function consoleTable(results: ServerResult[]): string {
  const rows = [COLUMNS, ...tableRows(results)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ');
  return [
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
  ].join('\n');
}

function mdTable(header: string[], rows: string[][]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Burst, RSS, unicast and group ratios of each ssehub server to each other server on its runtime. */
function peerRatios(results: ServerResult[]): string[][] {
  const ok = results.filter((r) => r.status === 'ok');
  const rows: string[][] = [];
  for (const a of ok.filter((r) => r.spec.name.includes('ssehub'))) {
    for (const b of ok.filter(
      (r) => !r.spec.name.includes('ssehub') && r.spec.runtime === a.spec.runtime,
    )) {
      rows.push([
        `${a.spec.name} / ${b.spec.name}`,
        formatRatio(ratio(a.burst?.rate, b.burst?.rate)),
        formatRatio(ratio(a.rssPerClient, b.rssPerClient)),
        formatRatio(ratio(a.heapPerClient, b.heapPerClient)),
        formatRatio(ratio(a.unicast?.rate, b.unicast?.rate)),
        formatRatio(ratio(a.many?.rate, b.many?.rate)),
        formatRatio(ratio(a.group?.rate, b.group?.rate)),
        formatRatio(ratio(a.steady?.p99, b.steady?.p99)),
      ]);
    }
  }
  return rows;
}

export function markdown(
  results: ServerResult[],
  configLines: string[],
  targets: TargetCheck[],
): string {
  const notes = results
    .map((r) =>
      r.status !== 'ok'
        ? `- **${r.spec.name}** ${r.status}: ${r.note ?? ''}`
        : r.note || missingNote(r)
          ? `- **${r.spec.name}**: ${[r.note, missingNote(r)].filter(Boolean).join('; ')}`
          : '',
    )
    .filter(Boolean);
  const ratios = peerRatios(results);
  return [
    '# ssehub benchmark',
    '',
    'Generated by `pnpm bench` (apps/bench). Throughput is deliveries (events received by clients)',
    'per second from the first send to the last receipt; latency is receive time minus the send',
    'timestamp embedded in each event. Memory is the server process after GC, minus its idle baseline,',
    'divided by the connections held. "burst CPU µs/del" is the server process\'s CPU time (user +',
    'system) during the burst divided by the deliveries: unlike throughput it does not depend on',
    'what else the machine was doing. "other CPU" is how busy the machine was with other',
    'processes in the second before the server started (the harness waits up to 10 s for quiet).',
    '',
    '## Configuration',
    '',
    '```',
    ...configLines,
    '```',
    '',
    '## Results',
    '',
    mdTable(COLUMNS, tableRows(results)),
    '',
    '![burst throughput and memory per connection](latest.svg)',
    '',
    '## Servers',
    '',
    ...results.map((r) => `- **${r.spec.name}** (${r.spec.runtime}): ${r.spec.label}`),
    '',
    ...(ratios.length
      ? [
          '## ssehub against each server on the same runtime',
          '',
          'Higher is better for throughput; lower is better for memory and latency.',
          '',
          mdTable(
            [
              'pair',
              'burst /s',
              'RSS/conn',
              'heap/conn',
              'unicast /s',
              'many /s',
              'group /s',
              'steady p99',
            ],
            ratios,
          ),
          '',
        ]
      : []),
    '## Targets',
    '',
    mdTable(
      ['target', 'measured', 'limit', 'verdict', 'same ratio by server CPU/delivery'],
      targets.map((c) => [
        c.label,
        fmtTargetValue(c),
        `${c.op} ${c.unit === 'x' ? `${c.limit}x` : `${c.limit} ms`}`,
        verdict(c),
        c.cpuValue === undefined ? '' : formatRatio(c.cpuValue),
      ]),
    ),
    '',
    ...(notes.length ? ['## Notes', '', ...notes, ''] : []),
    ...profiles(results),
  ].join('\n');
}

/** Hottest frames per profiled server (`--profile`). */
function profiles(results: ServerResult[]): string[] {
  const profiled = results.filter((r) => r.profile?.length);
  if (!profiled.length) return [];
  return [
    '## CPU profiles (self time, share of busy time)',
    '',
    ...profiled.flatMap((r) => [
      `### ${r.spec.name}`,
      '',
      mdTable(
        ['frame', 'share', 'ms'],
        r.profile!.map((p) => [
          `\`${p.frame}\``,
          `${(p.share * 100).toFixed(1)}%`,
          p.ms.toFixed(0),
        ]),
      ),
      '',
    ]),
  ];
}

export function targetLines(targets: TargetCheck[]): string[] {
  return targets.map(
    (c) =>
      `  [${verdict(c).padEnd(7)}] ${c.label}: ${fmtTargetValue(c)} (${c.op} ${c.unit === 'x' ? `${c.limit}x` : `${c.limit} ms`})${c.cpuValue === undefined ? '' : `; by server CPU/delivery ${formatRatio(c.cpuValue)}`}`,
  );
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function colorOf(r: ServerResult): string {
  if (r.spec.name.includes('ssehub')) return '#0f766e';
  if (r.spec.name.includes('raw')) return '#64748b';
  return '#d97706';
}

/**
 * A hand-written SVG: three horizontal bar panels (burst deliveries/s, server CPU µs per delivery
 * in the burst, RSS KiB per connection).
 */
export function svgChart(results: ServerResult[], subtitle: string): string {
  const ok = results.filter((r) => r.status === 'ok');
  const labelW = 130;
  const barW = 230;
  const rowH = 22;
  const panelW = labelW + barW + 70;
  const top = 64;
  const height = top + Math.max(1, ok.length) * rowH + 40;
  const width = panelW * 3 + 40;
  const panel = (x0: number, title: string, value: Metric, fmt: (n: number) => string): string => {
    const finite = (r: ServerResult): number => {
      const v = value(r);
      return v !== undefined && Number.isFinite(v) ? v : 0;
    };
    const max = Math.max(Number.MIN_VALUE, ...ok.map(finite));
    const bars = ok.map((r, i) => {
      const v = finite(r);
      const y = top + i * rowH;
      const w = Math.max(1, (v / max) * barW);
      return [
        `<text x="${x0 + labelW - 8}" y="${y + 15}" text-anchor="end">${escapeXml(r.spec.name)}</text>`,
        `<rect x="${x0 + labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colorOf(r)}" rx="2"/>`,
        `<text x="${x0 + labelW + w + 6}" y="${y + 15}">${escapeXml(fmt(v))}</text>`,
      ].join('');
    });
    return `<g><text x="${x0 + labelW}" y="${top - 10}" font-weight="bold">${escapeXml(title)}</text>${bars.join('')}</g>`;
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12" fill="#0f172a">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">ssehub benchmark</text>`,
    `<text x="10" y="40" fill="#475569">${escapeXml(subtitle)}</text>`,
    panel(0, 'burst deliveries / s (higher is better)', burstRate, formatCount),
    panel(
      panelW + 20,
      'server CPU µs per delivery, burst (lower is better)',
      (r) => r.burst?.cpuPerDelivery,
      formatMs,
    ),
    panel(panelW * 2 + 40, 'RSS KiB per connection (lower is better)', rssPerClient, formatKiB),
    `<text x="10" y="${height - 12}" fill="#475569">teal: ssehub · grey: raw floor · amber: other libraries</text>`,
    '</svg>',
    '',
  ].join('\n');
}
