import { describe, expect, it } from 'vitest';
import { selfTimes } from './profile.js';

describe('selfTimes', () => {
  it('sums self time per frame and leaves idle out of the shares', () => {
    const frame = (id: number, functionName: string) => ({
      id,
      callFrame: { functionName, url: 'file:///a/b/c.js', lineNumber: id },
    });
    const profile = {
      nodes: [frame(1, '(idle)'), frame(2, 'write'), frame(3, 'encode')],
      samples: [1, 2, 2, 3, 1],
      timeDeltas: [5000, 1000, 1000, 2000, 5000],
    };
    const rows = selfTimes(profile);
    expect(rows.map((r) => r.frame)).toEqual(['write b/c.js:3', 'encode b/c.js:4']);
    expect(rows[0]!.ms).toBe(2);
    expect(rows[0]!.share).toBe(0.5);
  });
});
