import { describe, expect, it } from 'vitest';
import { formatCount, median, percentile, ratio, summarizeLatencies } from './stats.js';

describe('stats', () => {
  it('percentile uses nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
    expect(values[0]).toBe(100);
  });

  it('summarizes latencies across workers', () => {
    const s = summarizeLatencies([
      Float64Array.of(3, 1),
      Float64Array.of(2, 4),
      new Float64Array(0),
    ]);
    expect(s).toEqual({ count: 4, p50: 2, p99: 4, max: 4 });
  });

  it('median, ratio and formatting', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(ratio(4, 2)).toBe(2);
    expect(ratio(4, 0)).toBeNaN();
    expect(ratio(undefined, 2)).toBeNaN();
    expect(formatCount(1_234_567)).toBe('1.23M');
    expect(formatCount(12_345)).toBe('12.3k');
  });
});
