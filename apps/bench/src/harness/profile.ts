/** Reads a V8 `.cpuprofile` (from `--cpu-prof`) into a self-time list, for `--profile`. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  /** `function file:line` (file shortened to its last two segments). */
  frame: string;
  ms: number;
  /** Share of the busy (non-idle) time, 0..1. */
  share: number;
}

/** Self time per frame, busiest first; idle time is left out of the shares. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((sample, i) => {
    const node = byId.get(sample);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') return;
    busy += dt;
    const file = url ? url.split('/').slice(-2).join('/') : '';
    const frame = `${functionName || '(anonymous)'}${file ? ` ${file}:${lineNumber + 1}` : ''}`;
    totals.set(frame, (totals.get(frame) ?? 0) + dt);
  });
  return [...totals]
    .map(([frame, us]) => ({ frame, ms: us / 1000, share: busy ? us / busy : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

/** The newest `.cpuprofile` in `dir`, parsed; undefined when there is none. */
export function readNewestProfile(dir: string): CpuProfile | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return undefined;
  }
  const newest = files.sort().at(-1);
  if (!newest) return undefined;
  return JSON.parse(readFileSync(path.join(dir, newest), 'utf8')) as CpuProfile;
}
