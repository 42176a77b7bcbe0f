import { createServer } from 'node:http';
import {
  defineEvents,
  type EventCatalog,
  EventValidationError,
  Hub,
  type HubOptions,
  type InferEvents,
} from '@ssehub/core';
import { toStandardJsonSchema } from '@valibot/to-json-schema';
import * as v from 'valibot';
import { afterEach, describe, expect, expectTypeOf, test } from 'vitest';
import { z } from 'zod';
import { sseHandler } from './index.js';
import { call, closeServer, listen, openStream } from './testing.test-util.js';

// The event catalog through HTTP, with two Standard Schema libraries (zod 4 and valibot).

const KEY = 'catalog-key';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: HubOptions) {
  const hub = new Hub(options);
  const server = createServer(sseHandler(hub, { publisherKey: KEY }));
  const origin = await listen(server);
  cleanups.push(async () => {
    await hub.close();
    await closeServer(server);
  });
  const url = `${origin}/api/v1/sse`;
  const publish = (body: unknown) =>
    call(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify(body),
    });
  return { hub, url, publish };
}

const libraries: [string, EventCatalog][] = [
  [
    'zod',
    defineEvents({
      task_progress: z.object({ task: z.string(), percent: z.number().min(0).max(100) }),
      notification: z.object({ title: z.string().min(1), tags: z.array(z.string()).default([]) }),
    }),
  ],
  [
    'valibot',
    defineEvents({
      task_progress: toStandardJsonSchema(
        v.object({ task: v.string(), percent: v.pipe(v.number(), v.minValue(0), v.maxValue(100)) }),
      ),
      notification: toStandardJsonSchema(
        v.object({
          title: v.pipe(v.string(), v.minLength(1)),
          tags: v.optional(v.array(v.string()), []),
        }),
      ),
    }),
  ],
];

describe.each(libraries)('event catalog with %s', (library, events) => {
  test('POST /publish: wrong data is 400 with the schema messages and sent to no one', async () => {
    const { hub, url, publish } = await start({ events });
    const stream = await openStream(`${url}/stream/g/a`);
    await stream.waitForEvent((e) => e.event === 'connected');

    const bad = await publish({
      group: 'g',
      event: 'task_progress',
      data: { task: 't', percent: 140 },
    });
    expect(bad.status).toBe(400);
    const body = bad.json() as {
      code: number;
      event: string;
      issues: { message: string; path?: string }[];
    };
    expect(body).toMatchObject({ code: 400, error: 'bad_request', event: 'task_progress' });
    expect(body.issues).toHaveLength(1);
    expect(body.issues[0]?.path).toBe('percent');
    expect(body.issues[0]?.message).toMatch(/100/);

    const wrongType = await publish({ group: 'g', event: 'notification', data: 'hello' });
    expect(wrongType.status).toBe(400);

    // A valid event goes out with the schema's output (the default `tags`), after the refusals.
    const ok = await publish({ group: 'g', event: 'notification', data: { title: 'hi' } });
    expect(ok.status).toBe(200);
    const note = await stream.waitForEvent((e) => e.event === 'notification');
    expect(JSON.parse(note.data)).toEqual({ title: 'hi', tags: [] });
    expect(stream.events.map((e) => e.event)).toEqual(['connected', 'notification']);
    expect(hub.info().counters.eventsRejected).toBe(2);
    // Names outside the catalog pass unchecked unless refused.
    expect((await publish({ group: 'g', event: 'other', data: 1 })).status).toBe(200);
    stream.close();
  });

  test('in-process sends are validated too; refuseUnknownEvents refuses other names', async () => {
    const { hub, publish } = await start({ events, refuseUnknownEvents: true });
    await expect(
      hub.sendGroup('g', { event: 'task_progress', data: { task: 't', percent: -1 } } as never),
    ).rejects.toBeInstanceOf(EventValidationError);
    await expect(hub.broadcast({ event: 'other', data: 1 } as never)).rejects.toMatchObject({
      code: 'unknown_event',
    });
    const unknown = await publish({ event: 'other', data: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.json()).toMatchObject({
      message: 'The event "other" is not in the event catalog.',
    });
    const unnamed = await publish({ data: 'plain' });
    expect(unnamed.status).toBe(400);
    expect(
      await hub.broadcast({ event: 'task_progress', data: { task: 't', percent: 5 } } as never),
    ).toBe(0);
  });

  test('GET /asyncapi.json: an AsyncAPI 3 document with each payload JSON Schema, admin only', async () => {
    const { url } = await start({ events });
    expect((await call(`${url}/asyncapi.json`)).status).toBe(401);
    const response = await call(`${url}/asyncapi.json`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(response.status).toBe(200);
    const doc = response.json() as AsyncApi;
    checkAsyncApi3(doc);
    const payload = doc.components.messages.task_progress?.payload as {
      schemaFormat: string;
      schema: { type: string; required: string[]; properties: Record<string, unknown> };
    };
    expect(payload.schemaFormat).toBe('application/schema+json;version=draft-2020-12');
    expect(payload.schema.type).toBe('object');
    expect(payload.schema.required).toEqual(['task', 'percent']);
    expect(payload.schema.properties.percent).toMatchObject({ type: 'number', maximum: 100 });
    expect(doc.components.messages.notification).toMatchObject({
      name: 'notification',
      'x-schema-vendor': library,
    });
  });
});

test('the hub and client types come from the schemas', () => {
  const events = defineEvents({
    task_progress: z.object({ task: z.string(), percent: z.number() }),
    message: v.string(),
  });
  const hub = new Hub({ events });
  expectTypeOf(hub).toEqualTypeOf<
    Hub<{ task_progress: { task: string; percent: number }; message: string }>
  >();
  type Events = InferEvents<typeof events>;
  expectTypeOf<Events>().toEqualTypeOf<{
    task_progress: { task: string; percent: number };
    message: string;
  }>();
  // @ts-expect-error percent must be a number
  void hub.broadcast({ event: 'task_progress', data: { task: 't', percent: '5' } }).catch(() => {});
  void hub.close();
});

test('an asynchronous schema keeps the order of sends', async () => {
  const slow = {
    '~standard': {
      version: 1 as const,
      vendor: 'test',
      validate: async (value: unknown) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return typeof value === 'number' ? { value } : { issues: [{ message: 'not a number' }] };
      },
    },
  };
  const { url, hub } = await start({ events: { slow } });
  const stream = await openStream(`${url}/stream/g/a`);
  await stream.waitForEvent((e) => e.event === 'connected');
  const sends = [
    hub.sendGroup('g', { event: 'slow', data: 1 }),
    hub.sendGroup('g', { event: 'fast', data: 2 } as never),
    hub.sendGroup('g', { event: 'slow', data: 'x' } as never),
    hub.sendGroup('g', { event: 'slow', data: 3 }),
  ];
  const results = await Promise.allSettled(sends);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  await stream.waitForEvent((e) => e.data === '3');
  expect(stream.events.slice(1).map((e) => e.data)).toEqual(['1', '2', '3']);
  stream.close();
});

interface AsyncApi {
  asyncapi: string;
  info: { title: string; version: string };
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
  operations: Record<
    string,
    { action: string; channel: { $ref: string }; messages: { $ref: string }[] }
  >;
  components: { messages: Record<string, Record<string, unknown>> };
}

/**
 * The structural rules of AsyncAPI 3.0 this document relies on: required fields, the
 * `send`/`receive` actions, component keys, and every `$ref` resolving inside the document.
 */
function checkAsyncApi3(doc: AsyncApi): void {
  expect(doc.asyncapi).toMatch(/^3\.0\.\d+$/);
  expect(typeof doc.info.title).toBe('string');
  expect(typeof doc.info.version).toBe('string');
  const resolve = (ref: string): unknown => {
    expect(ref.startsWith('#/')).toBe(true);
    let node: unknown = doc;
    for (const part of ref.slice(2).split('/')) {
      node = (node as Record<string, unknown>)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    expect(node, `${ref} resolves`).toBeDefined();
    return node;
  };
  for (const channel of Object.values(doc.channels)) {
    expect(typeof channel.address).toBe('string');
    for (const message of Object.values(channel.messages)) resolve(message.$ref);
  }
  for (const operation of Object.values(doc.operations)) {
    expect(['send', 'receive']).toContain(operation.action);
    resolve(operation.channel.$ref);
    // Operation messages must point into the channel's messages.
    for (const message of operation.messages) {
      expect(message.$ref.startsWith(`${operation.channel.$ref}/messages/`)).toBe(true);
      resolve(message.$ref);
    }
  }
  for (const [key, message] of Object.entries(doc.components.messages)) {
    expect(key).toMatch(/^[a-zA-Z0-9.\-_]+$/);
    expect(message.payload).toBeDefined();
  }
}
