/** How busy the machine is with other work, so a run can wait for quiet and report what it saw. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function cpuTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Share (0..1) of all cores busy over `ms`; NaN where /proc/stat is missing. */
export async function cpuBusy(ms = 1000): Promise<number> {
  const a = cpuTicks();
  await sleep(ms);
  const b = cpuTicks();
  if (!a || !b || b.total === a.total) return Number.NaN;
  return (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Waits (at most `maxWaitMs`) until other processes use less than `threshold` of the machine;
 * returns the last reading.
 */
export async function waitForQuiet(threshold: number, maxWaitMs: number): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  let busy = await cpuBusy();
  while (busy > threshold && Date.now() < deadline) busy = await cpuBusy();
  return busy;
}

/**
 * Pins a process and all its threads to one CPU with `taskset` (`--pin`). Returns false where
 * that is not possible (no taskset, not Linux).
 */
export function pinToCpu(pid: number | undefined, cpu: number): boolean {
  if (pid === undefined) return false;
  const out = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], {
    stdio: 'ignore',
    timeout: 5_000,
  });
  return out.status === 0;
}
