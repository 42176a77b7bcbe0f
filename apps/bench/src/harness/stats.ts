/** Small numeric helpers for latency samples and throughput. */

/** Percentile (0..100) of `values` by nearest rank; NaN when empty. Does not modify the input. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sortedPercentile(sorted, p);
}

/** Percentile of an already ascending-sorted array, by nearest rank. */
export function sortedPercentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * n);
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]!;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Merges latency arrays (ms) from several load-generator workers into p50/p99/max. */
export function summarizeLatencies(parts: ArrayLike<number>[]): LatencySummary {
  let total = 0;
  for (const part of parts) total += part.length;
  const all = new Float64Array(total);
  let offset = 0;
  for (const part of parts) {
    all.set(part as ArrayLike<number>, offset);
    offset += part.length;
  }
  all.sort();
  return {
    count: total,
    p50: sortedPercentile(all, 50),
    p99: sortedPercentile(all, 99),
    max: total ? all[total - 1]! : Number.NaN,
  };
}

/** Median of a list of numbers (NaN when empty). */
export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Ratio a/b, NaN when either side is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return Number.NaN;
  }
  return a / b;
}

/** Human formatting: 1234567 -> "1.23M", 12345 -> "12.3k". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}k`;
  return n.toFixed(0);
}

/** Milliseconds with precision that suits the magnitude. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** Bytes per connection in KiB. */
export function formatKiB(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  return (bytes / 1024).toFixed(1);
}

/** Ratio as "1.23x". */
export function formatRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : '—';
}
