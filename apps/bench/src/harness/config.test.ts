import { describe, expect, it } from 'vitest';
import { FULL, parseArgs, QUICK } from './config.js';

describe('parseArgs', () => {
  it('defaults to the full run', () => {
    const c = parseArgs([], '/out');
    expect(c.clients).toBe(FULL.clients);
    expect(c.only).toEqual([]);
  });

  it('reads --quick, --only and numeric overrides', () => {
    const c = parseArgs(['--quick', '--only', 'raw-node,h3', '--clients=200'], '/out');
    expect(c.quick).toBe(true);
    expect(c.burstEvents).toBe(QUICK.burstEvents);
    expect(c.only).toEqual(['raw-node', 'h3']);
    expect(c.clients).toBe(200);
  });

  it('reads --phases and rejects an unknown phase', () => {
    expect(parseArgs(['--phases', 'unicast,many'], '/out').phases).toEqual(['unicast', 'many']);
    expect(parseArgs([], '/out').phases).toEqual([]);
    expect(() => parseArgs(['--phases', 'unicast,nope'], '/out')).toThrow(/unknown phase nope/);
  });

  it('rejects unknown flags', () => {
    expect(() => parseArgs(['--nope'], '/out')).toThrow(/unknown argument/);
  });
});
