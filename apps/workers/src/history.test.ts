import type { HistoryRecord } from '@ssehub/core';
import { describe, expect, test } from 'vitest';
import type { DurableObjectStorage } from './cloudflare.js';
import { DurableHistory } from './history.js';

/** Durable Object storage's key-value API over a Map, keys listed in order as workerd does. */
function memoryStorage(): DurableObjectStorage & { readonly data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return {
    data,
    get: async <T>(key: string) => structuredClone(data.get(key)) as T | undefined,
    async list<T>(options: { prefix?: string } = {}) {
      const keys = [...data.keys()].filter((k) => k.startsWith(options.prefix ?? '')).sort();
      return new Map(keys.map((k) => [k, structuredClone(data.get(k)) as T]));
    },
    async put(entries) {
      expect(Object.keys(entries).length).toBeLessThanOrEqual(128);
      for (const [k, v] of Object.entries(entries)) data.set(k, structuredClone(v));
    },
    async delete(keys) {
      expect(keys.length).toBeLessThanOrEqual(128);
      let deleted = 0;
      for (const k of keys) if (data.delete(k)) deleted++;
      return deleted;
    },
  };
}

const event = (data: string): Omit<HistoryRecord, 'id'> => ({
  target: { kind: 'group', group: 'g' },
  event: 'n',
  data,
  retry: undefined,
});
const all = () => true;
const datas = (result: ReturnType<DurableHistory['since']>) =>
  result.found ? result.events.map((e) => e.data) : result;

describe('DurableHistory', () => {
  test('a reload keeps the events, and new ids sort after the old ones', async () => {
    const storage = memoryStorage();
    const before = await DurableHistory.load(storage);
    const first = await before.append(event('1'), undefined);
    const second = await before.append(event('2'), undefined);
    const after = await DurableHistory.load(storage);
    const third = await after.append(event('3'), undefined);
    expect(third.split('-')[0]).toBe(first.split('-')[0]);
    expect(Number(third.split('-')[1])).toBe(Number(second.split('-')[1]) + 1);
    expect(datas(after.since(first, all))).toEqual(['2', '3']);
    // An app's own id is kept and found after a reload too.
    await after.append(event('4'), 'app-4');
    expect(datas((await DurableHistory.load(storage)).since('app-4', all))).toEqual([]);
  });

  test('bounds forget events in memory and in storage; a position past them gets found: false', async () => {
    const storage = memoryStorage();
    let now = 0;
    const history = await DurableHistory.load(storage, {
      maxEvents: 200,
      maxAgeMs: 1000,
      now: () => now,
    });
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push(await history.append(event(String(i)), undefined));
    expect(history.size).toBe(200);
    const events = () => [...storage.data.keys()].filter((k) => k.startsWith('history:event:'));
    expect(events()).toHaveLength(200);
    expect(datas(history.since(ids[98]!, all))).toMatchObject({ found: false });
    expect(datas(history.since(ids[99]!, all))).toHaveLength(200);
    now = 5000;
    const reloaded = await DurableHistory.load(storage, { maxAgeMs: 1000, now: () => now });
    expect(reloaded.size).toBe(0);
    expect(events()).toHaveLength(0);
    // The position of the newest event still names where the history is.
    expect(datas(reloaded.since(ids[299]!, all))).toEqual([]);
  });

  test('ids of another storage are unknown, never confused with ours', async () => {
    const one = await DurableHistory.load(memoryStorage());
    const other = await DurableHistory.load(memoryStorage());
    const id = await one.append(event('1'), undefined);
    await other.append(event('1'), undefined);
    expect(other.since(id, all)).toMatchObject({ found: false });
  });

  test('maxEvents 0 keeps nothing but still persists the sequence', async () => {
    const storage = memoryStorage();
    const history = await DurableHistory.load(storage, { maxEvents: 0 });
    const first = await history.append(event('1'), undefined);
    const next = await (await DurableHistory.load(storage, { maxEvents: 0 })).append(
      event('2'),
      undefined,
    );
    expect(Number(next.split('-')[1])).toBe(Number(first.split('-')[1]) + 1);
    expect(history.size).toBe(0);
  });
});
