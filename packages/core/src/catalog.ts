/**
 * The event catalog: an app's events described by schemas of any Standard Schema library (zod,
 * valibot, arktype...), so that one declaration types the hub and the client, validates every send
 * and can be published as an AsyncAPI document.
 *
 * ```ts
 * import { z } from 'zod';
 * const events = defineEvents({
 *   notification: z.object({ title: z.string() }),
 *   task_progress: z.object({ task: z.string(), percent: z.number().min(0).max(100) }),
 * });
 * const hub = new Hub({ events });            // hub.send(...) is typed by the schemas
 * type Events = InferEvents<typeof events>;    // for @ssehub/client: new SSEClient<Events>(...)
 * ```
 *
 * Core depends on no schema library: the interfaces of https://standardschema.dev (Standard
 * Schema V1 and Standard JSON Schema V1) are declared here, structurally compatible with
 * `@standard-schema/spec`.
 */

import { SSEError } from './errors.js';

/** A schema of any Standard Schema V1 library (the `~standard` property with `validate`). */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

export declare namespace StandardSchemaV1 {
  /** The `~standard` property. */
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
      options?: { readonly libraryOptions?: Record<string, unknown> | undefined } | undefined,
    ) => Result<Output> | Promise<Result<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
    /**
     * Standard JSON Schema V1, when the library offers it (zod 4, valibot through
     * `toStandardJsonSchema` of `@valibot/to-json-schema`): used for the AsyncAPI document.
     */
    readonly jsonSchema?: JsonSchemaConverter | undefined;
  }
  export type Result<Output> =
    | { readonly value: Output; readonly issues?: undefined }
    | { readonly issues: readonly Issue[] };
  /** One problem the schema found. */
  export interface Issue {
    readonly message: string;
    readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
  }
}

/** Standard JSON Schema V1's converter (`~standard.jsonSchema`). */
export interface JsonSchemaConverter {
  readonly input: (options: { readonly target: string }) => Record<string, unknown>;
  readonly output: (options: { readonly target: string }) => Record<string, unknown>;
}

/**
 * An app's events: event name to the schema of its data. The entry `message`, when present,
 * describes unnamed events (sent without `event`; the browser dispatches them as `message`).
 */
export type EventCatalog = { readonly [name: string]: StandardSchemaV1 };

/** The event map (name to data type, as the client receives it) that a catalog describes. */
export type InferEvents<C extends EventCatalog> = {
  -readonly [K in keyof C]: NonNullable<C[K]['~standard']['types']>['output'];
};

/** The event map of what a hub with this catalog accepts (the schemas' input types). */
export type InferEventInputs<C extends EventCatalog> = {
  -readonly [K in keyof C]: NonNullable<C[K]['~standard']['types']>['input'];
};

/** Declares a catalog, keeping each schema's type (for `InferEvents<typeof events>`). */
export function defineEvents<const C extends EventCatalog>(events: C): C {
  for (const [name, schema] of Object.entries(events)) {
    if (typeof schema?.['~standard']?.validate !== 'function') {
      throw new TypeError(
        `The schema of event ${JSON.stringify(name)} is not a Standard Schema (no ~standard.validate).`,
      );
    }
  }
  return events;
}

/** An issue as the HTTP answer carries it: the message and, when known, the dotted path. */
export interface EventIssue {
  readonly message: string;
  readonly path?: string;
}

/**
 * The data of an event did not match its schema in the catalog (`code` `invalid_event_data`);
 * nothing was sent. `issues` are the schema's messages.
 */
export class EventValidationError extends SSEError {
  readonly event: string;
  readonly issues: readonly EventIssue[];
  constructor(event: string, issues: readonly StandardSchemaV1.Issue[]) {
    const list = issues.map(toEventIssue);
    super(
      'invalid_event_data',
      `The data of event ${JSON.stringify(event)} does not match its schema: ${list
        .map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message))
        .join('; ')}`,
    );
    this.event = event;
    this.issues = list;
  }
}

function toEventIssue(issue: StandardSchemaV1.Issue): EventIssue {
  const path = issue.path
    ?.map((segment) => String(typeof segment === 'object' ? segment.key : segment))
    .join('.');
  return path ? { message: issue.message, path } : { message: issue.message };
}

/** How a hub checks its sends against a catalog. */
export interface CatalogCheck {
  readonly events: EventCatalog;
  /** Refuse events whose name is not in the catalog (`unknown_event`). */
  readonly refuseUnknown: boolean;
}

type Outgoing = { event?: string | undefined; data: unknown };

/**
 * Validates an event against the catalog: the event with the schema's output as its data, or
 * (for an asynchronous schema) a promise of it. Throws (or rejects with) `EventValidationError`
 * or `SSEError` `unknown_event`.
 */
export function checkEvent<E extends Outgoing>(check: CatalogCheck, event: E): E | Promise<E> {
  if (event === null || typeof event !== 'object') return event;
  const name = event.event ?? 'message';
  const schema = Object.hasOwn(check.events, name) ? check.events[name] : undefined;
  if (schema === undefined) {
    if (!check.refuseUnknown) return event;
    throw new SSEError(
      'unknown_event',
      event.event === undefined
        ? 'Unnamed events are not in the event catalog (it has no "message" entry).'
        : `The event ${JSON.stringify(name)} is not in the event catalog.`,
    );
  }
  const settle = (result: StandardSchemaV1.Result<unknown>): E => {
    if (result.issues) throw new EventValidationError(name, result.issues);
    return { ...event, data: result.value };
  };
  const result = schema['~standard'].validate(event.data);
  return result instanceof Promise ? result.then(settle) : settle(result);
}

/** What the AsyncAPI document says about the server. */
export interface AsyncApiOptions {
  /** `info.title` (default `ssehub events`). */
  readonly title?: string;
  /** `info.version` (default `1.0.0`). */
  readonly version?: string;
  /** The stream route (e.g. `/api/v1/sse`), the channel's address prefix. */
  readonly base: string;
}

/**
 * The catalog as an AsyncAPI 3.0 document: one channel (the stream of a client), one message per
 * event with its payload's JSON Schema (draft 2020-12) when the schema library offers Standard
 * JSON Schema, and one `receive` operation (clients receive every message).
 */
export function asyncApiDocument(
  events: EventCatalog,
  options: AsyncApiOptions,
): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const refs: Record<string, { $ref: string }> = {};
  for (const [name, schema] of Object.entries(events)) {
    const key = messageKey(name);
    const vendor = schema['~standard'].vendor;
    let payload: Record<string, unknown> | undefined;
    try {
      payload = schema['~standard'].jsonSchema?.output({ target: 'draft-2020-12' });
    } catch {
      payload = undefined;
    }
    messages[key] = {
      name,
      title: name,
      ...(name === 'message'
        ? { summary: 'Unnamed events (the browser dispatches them as `message`).' }
        : { summary: `SSE event \`${name}\`.` }),
      contentType: 'application/json',
      payload: payload
        ? { schemaFormat: 'application/schema+json;version=draft-2020-12', schema: payload }
        : {
            schemaFormat: 'application/schema+json;version=draft-2020-12',
            schema: { description: `No JSON Schema offered by the ${vendor} schema.` },
          },
      'x-schema-vendor': vendor,
    };
    refs[key] = { $ref: `#/components/messages/${key}` };
  }
  const channelMessages: Record<string, { $ref: string }> = {};
  for (const key of Object.keys(refs))
    channelMessages[key] = { $ref: `#/components/messages/${key}` };
  return {
    asyncapi: '3.0.0',
    info: {
      title: options.title ?? 'ssehub events',
      version: options.version ?? '1.0.0',
      description:
        'Server-Sent Events streamed to each client (group, id). Every event the server sends ' +
        'under one of these names carries data valid against its payload schema.',
    },
    defaultContentType: 'application/json',
    channels: {
      stream: {
        address: `${options.base}/stream/{group}/{id}`,
        title: 'The event stream of one client',
        parameters: {
          group: { description: 'The client group.' },
          id: { description: 'The client id within the group.' },
        },
        messages: channelMessages,
      },
    },
    operations: {
      receiveEvents: {
        action: 'receive',
        channel: { $ref: '#/channels/stream' },
        summary: 'A client receives these events over text/event-stream.',
        messages: Object.keys(refs).map((key) => ({ $ref: `#/channels/stream/messages/${key}` })),
      },
    },
    components: { messages },
  };
}

/** AsyncAPI component keys match `^[a-zA-Z0-9.\-_]+$`. */
function messageKey(name: string): string {
  return name.replace(/[^A-Za-z0-9.\-_]/g, '_');
}
