/**
 * The Durable Object hub on real workerd (miniflare), through HTTP: sends of every kind, replay,
 * disconnect, heartbeat, a client leaving, and an object restart in the middle of a stream, both
 * as the platform does it (`ctx.abort()`) and as a restart of the workerd process over the same
 * storage.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRaw, type RawStream, waitFor } from '@ssehub/conformance';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bundleWorker, sseVariables, startWorker } from '../scripts/worker.mjs';

type Worker = Awaited<ReturnType<typeof startWorker>>;

const KEY = 'workers-test-key';
const BASE = '/api/v1/sse';
const isConnected = (e: { event?: string | undefined }) => e.event === 'connected';

function client(worker: Worker) {
  const url = `${worker.origin}${BASE}`;
  const admin = { authorization: `Bearer ${KEY}` };
  return {
    stream: (path: string, headers: Record<string, string> = {}) =>
      openRaw(`${url}${path}`, headers),
    async publish(body: unknown): Promise<number> {
      const post = () =>
        fetch(`${url}/publish`, {
          method: 'POST',
          headers: { ...admin, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      // After an object reset, workerd may close a kept-alive connection just as the next request
      // takes it ("other side closed", no answer). Retry that once; the restart tests check that
      // ids follow each other, so a publish delivered twice would show.
      const response = await post().catch((error: unknown) => {
        if ((error as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw error;
        return post();
      });
      const json = (await response.json()) as { data: { delivered: number } };
      expect(response.status, JSON.stringify(json)).toBe(200);
      return json.data.delivered;
    },
    async connections(group: string): Promise<number> {
      const response = await fetch(`${url}/info`, { headers: admin });
      const json = (await response.json()) as { data: { groups: Record<string, number> } };
      return json.data.groups[group] ?? 0;
    },
    disconnect: (group: string, id: string) =>
      fetch(`${url}/disconnect/${group}/${id}`, { method: 'POST', headers: admin }),
  };
}

/** The data of the non-connected events a stream received, in order. */
const received = (stream: RawStream) =>
  stream.events.filter((e) => !isConnected(e)).map((e) => e.data);

/** The sequence part of one of the history's `<epoch>-<sequence>` ids. */
const sequence = (id: string) => Number(id.slice(id.lastIndexOf('-') + 1));

let bundle: Awaited<ReturnType<typeof bundleWorker>>;
beforeAll(async () => {
  bundle = await bundleWorker();
});

describe('one hub object', () => {
  let worker: Worker;
  let hub: ReturnType<typeof client>;
  beforeAll(async () => {
    worker = await startWorker({ bundle, vars: { SSE_PUBLISH_KEY: KEY, SSE_HEARTBEAT_MS: '300' } });
    hub = client(worker);
  });
  afterAll(() => worker?.dispose());

  test('unicast, group and broadcast reach exactly their streams', async () => {
    const a = await hub.stream('/stream/red/a');
    const b = await hub.stream('/stream/red/b');
    const c = await hub.stream('/stream/blue/c');
    try {
      for (const s of [a, b, c]) await s.next(isConnected, 'connected');
      expect(await hub.publish({ group: 'red', id: 'a', event: 'n', data: 'to a' })).toBe(1);
      expect(await hub.publish({ group: 'red', event: 'n', data: 'to red' })).toBe(2);
      expect(await hub.publish({ event: 'n', data: 'to all' })).toBe(3);
      await waitFor(() => received(c).length === 1, 'the broadcast on c');
      await waitFor(() => received(a).length === 3, 'three events on a');
      await waitFor(() => received(b).length === 2, 'two events on b');
      expect(received(a)).toEqual(['to a', 'to red', 'to all']);
      expect(received(b)).toEqual(['to red', 'to all']);
      expect(received(c)).toEqual(['to all']);
    } finally {
      for (const s of [a, b, c]) s.close();
    }
  });

  test('Last-Event-ID replays what the client missed, in order', async () => {
    const first = await hub.stream('/stream/replay/a');
    await first.next(isConnected, 'connected');
    await hub.publish({ group: 'replay', event: 'n', data: '1' });
    const seen = await first.next((e) => e.data === '1', 'event 1');
    first.close();
    await waitFor(async () => (await hub.connections('replay')) === 0, 'the client to be gone');
    await hub.publish({ group: 'replay', event: 'n', data: '2' });
    await hub.publish({ group: 'other', event: 'n', data: 'not for replay' });
    await hub.publish({ group: 'replay', event: 'n', data: '3' });
    const again = await hub.stream('/stream/replay/a', { 'last-event-id': seen.id! });
    try {
      await again.next((e) => e.data === '3', 'event 3');
      expect(received(again)).toEqual(['2', '3']);
    } finally {
      again.close();
    }
  });

  test('the disconnect route ends the stream', async () => {
    const stream = await hub.stream('/stream/kick/a');
    await stream.next(isConnected, 'connected');
    expect((await hub.disconnect('kick', 'a')).status).toBe(200);
    await waitFor(() => stream.ended, 'the stream to end');
    expect(await hub.connections('kick')).toBe(0);
  });

  test('heartbeat comments keep a quiet stream alive; a client that left is noticed at the next one', async () => {
    const stream = await hub.stream('/stream/quiet/a');
    await stream.next(isConnected, 'connected');
    await waitFor(() => stream.comments.length >= 2, 'two heartbeats');
    expect(stream.ended).toBe(false);
    expect(await hub.connections('quiet')).toBe(1);
    stream.close();
    await waitFor(async () => (await hub.connections('quiet')) === 0, 'the hub to drop the client');
  });
});

describe('client addresses', () => {
  test('SSE_MAX_PER_IP without a trusted address source refuses to start', async () => {
    await expect(sseVariables({ SSE_MAX_PER_IP: '2' })).rejects.toThrow(
      /SSE_MAX_PER_IP needs the client addresses/,
    );
    await expect(
      sseVariables({ SSE_MAX_PER_IP: '2', SSE_TRUST_CF_CONNECTING_IP: '1' }),
    ).resolves.toMatchObject({ SSE_MAX_PER_IP: '2' });
  });

  test('with SSE_TRUST_CF_CONNECTING_IP=1 the per-IP limit counts CF-Connecting-IP', async () => {
    const worker = await startWorker({
      bundle,
      vars: { SSE_PUBLISH_KEY: KEY, SSE_MAX_PER_IP: '1', SSE_TRUST_CF_CONNECTING_IP: '1' },
    });
    const hub = client(worker);
    const from = (ip: string) => ({ 'cf-connecting-ip': ip });
    const first = await hub.stream('/stream/ip/a', from('192.0.2.1'));
    const other = await hub.stream('/stream/ip/c', from('192.0.2.2'));
    let local: RawStream | undefined;
    try {
      await first.next(isConnected, 'connected');
      await other.next(isConnected, 'connected (another address)');
      const refused = await hub.stream('/stream/ip/b', from('192.0.2.1'));
      expect(refused.status).toBe(429);
      // Without the header, miniflare sets CF-Connecting-IP from the socket: 127.0.0.1 here.
      local = await hub.stream('/stream/ip/d');
      await local.next(isConnected, 'connected (from 127.0.0.1)');
      expect((await hub.stream('/stream/ip/e', from('127.0.0.1'))).status).toBe(429);
    } finally {
      first.close();
      other.close();
      local?.close();
      await worker.dispose();
    }
  });
});

describe('an object restart in the middle of a stream', () => {
  test('ctx.abort(): the stream breaks; a reconnect replays from storage, and ids stay ordered', async () => {
    const worker = await startWorker({ bundle, vars: { SSE_PUBLISH_KEY: KEY } });
    const hub = client(worker);
    try {
      const stream = await hub.stream('/stream/live/a');
      await stream.next(isConnected, 'connected');
      await hub.publish({ group: 'live', event: 'n', data: 'before' });
      const before = await stream.next((e) => e.data === 'before', 'the event before');
      // The platform resets an object this way (eviction, crash, deploy); the RPC call itself
      // fails with the object.
      await (await worker.hubObject()).restart().catch(() => {});
      await waitFor(() => stream.ended, 'the stream to break with the object');
      // A new instance, from storage.
      await hub.publish({ group: 'live', event: 'n', data: 'after' });
      const again = await hub.stream('/stream/live/a', { 'last-event-id': before.id! });
      try {
        const after = await again.next((e) => e.data === 'after', 'the event after the restart');
        expect(received(again)).toEqual(['after']);
        expect(sequence(after.id!)).toBe(sequence(before.id!) + 1);
      } finally {
        again.close();
      }
    } finally {
      await worker.dispose();
    }
  });

  test('a new workerd process over the same storage replays what was sent before and after', async () => {
    const storage = mkdtempSync(join(tmpdir(), 'ssehub-workers-test-'));
    const vars = { SSE_PUBLISH_KEY: KEY };
    try {
      let worker = await startWorker({ bundle, vars, persistTo: storage });
      let hub = client(worker);
      const stream = await hub.stream('/stream/live/a');
      await stream.next(isConnected, 'connected');
      for (const data of ['1', '2']) await hub.publish({ group: 'live', event: 'n', data });
      const first = await stream.next((e) => e.data === '1', 'event 1');
      const second = await stream.next((e) => e.data === '2', 'event 2');
      await worker.dispose();
      await waitFor(() => stream.ended, 'the stream to break with workerd');

      worker = await startWorker({ bundle, vars, persistTo: storage });
      hub = client(worker);
      try {
        await hub.publish({ group: 'live', event: 'n', data: '3' });
        const again = await hub.stream('/stream/live/a', { 'last-event-id': first.id! });
        try {
          const third = await again.next((e) => e.data === '3', 'event 3');
          expect(received(again)).toEqual(['2', '3']);
          expect(again.events.find((e) => e.data === '2')?.id).toBe(second.id);
          expect(sequence(third.id!)).toBe(sequence(second.id!) + 1);
        } finally {
          again.close();
        }
      } finally {
        await worker.dispose();
      }
    } finally {
      rmSync(storage, { recursive: true, force: true });
    }
  });
});
