import { describe, expect, it } from 'vitest';
import { turns } from './run.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('turns', () => {
  it('runs one step at a time, in the order asked, and alternates two servers', async () => {
    const turn = turns();
    const log: string[] = [];
    let running = 0;
    const server = async (name: string) => {
      for (let step = 0; step < 3; step++) {
        await turn(async () => {
          running++;
          expect(running).toBe(1);
          log.push(`${name}${step}`);
          await sleep(5);
          running--;
        });
        await sleep(1);
      }
    };
    await Promise.all([server('a'), server('b')]);
    expect(log).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  });

  it('goes on after a step that failed', async () => {
    const turn = turns();
    await expect(turn(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await turn(async () => 'next')).toBe('next');
  });
});
