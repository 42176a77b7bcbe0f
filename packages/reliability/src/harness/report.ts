/**
 * Figures for the closing table: every scenario prints one line per attack or fault, so the test
 * output (and the soak run's) reads as the report.
 */

export function report(scenario: string, outcome: string, figures: Record<string, unknown> = {}) {
  const parts = Object.entries(figures).map(
    ([name, value]) =>
      `${name}=${typeof value === 'number' ? round(value) : JSON.stringify(value)}`,
  );
  console.log(
    `[reliability] ${scenario} | ${outcome}${parts.length ? ` | ${parts.join(' ')}` : ''}`,
  );
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/** The p-th percentile (0–100) of the values, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it is true; every wait is bounded. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
