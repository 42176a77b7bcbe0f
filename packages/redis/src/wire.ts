import type { BrokerMessage, HistoryRecord, Target } from '@ssehub/core';

/**
 * How an event travels and rests in Redis.
 *
 * - A stream entry has three fields: `o`, the node that sent it, `s`, that node's send sequence,
 *   and `m`, its body.
 * - A pub/sub message is one or more envelopes joined by `\n` (the sends one node stored in one
 *   script call, in stream order). An envelope is `<stream id>\n<origin node>\n<send
 *   sequence>\n<body>`; the stream id is empty for envelopes that are not in the stream
 *   (disconnects, and sends of a hub whose history is not in Redis). No part holds a line break:
 *   bodies are JSON and origins have no white space.
 * - A body is JSON `{t: target, e?: event, d: data, r?: retry, i?: app id}`. The event's id is the
 *   app's id when it gave one, otherwise the stream id: ordered across the cluster.
 */

/** A body as JSON. */
export interface Body {
  readonly t: WireTarget;
  readonly e?: string;
  readonly d: string;
  readonly r?: number;
  readonly i?: string;
}

/** A target as stored: `where` keeps the node and a local reference instead of the function. */
export type WireTarget =
  | Exclude<Target, { kind: 'where' }>
  | { readonly kind: 'where'; readonly node: string; readonly ref: string }
  | { readonly kind: 'disconnect'; readonly group: string; readonly id: string };

/** A parsed pub/sub message. */
export interface Envelope {
  readonly streamId: string;
  readonly origin: string;
  readonly seq: string;
  readonly body: string;
}

export function encodeBody(
  target: WireTarget,
  event: string | undefined,
  data: string,
  retry: number | undefined,
  appId: string | undefined,
): string {
  return JSON.stringify({ t: target, e: event, d: data, r: retry, i: appId });
}

export function envelope(streamId: string, origin: string, seq: string, body: string): string {
  return `${streamId}\n${origin}\n${seq}\n${body}`;
}

/** The envelopes of a pub/sub message, in order; `undefined` when it is malformed. */
export function parseEnvelopes(raw: string): Envelope[] | undefined {
  const envelopes: Envelope[] = [];
  let at = 0;
  do {
    const a = raw.indexOf('\n', at);
    const b = a < 0 ? -1 : raw.indexOf('\n', a + 1);
    const c = b < 0 ? -1 : raw.indexOf('\n', b + 1);
    if (c < 0) return undefined;
    let end = raw.indexOf('\n', c + 1);
    if (end < 0) end = raw.length;
    envelopes.push({
      streamId: raw.slice(at, a),
      origin: raw.slice(a + 1, b),
      seq: raw.slice(b + 1, c),
      body: raw.slice(c + 1, end),
    });
    at = end + 1;
  } while (at < raw.length);
  return envelopes;
}

/** The message a hub delivers for a body; `undefined` for targets no other node can evaluate. */
export function toMessage(body: Body, streamId: string): BrokerMessage | undefined {
  if (body.t.kind === 'where') return undefined;
  return {
    id: body.i ?? streamId,
    target: body.t,
    event: body.e,
    data: body.d,
    retry: body.r,
  };
}

/** A stream entry as ioredis returns it: `[id, [field, value, ...]]`. */
export type StreamEntry = [string, string[]];

/** The fields of an entry. */
export function entryFields(
  entry: StreamEntry,
): { origin: string; seq: string; body: Body } | undefined {
  const fields = entry[1];
  let origin: string | undefined;
  let seq = '';
  let raw: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'o') origin = fields[i + 1];
    else if (fields[i] === 's') seq = fields[i + 1]!;
    else if (fields[i] === 'm') raw = fields[i + 1];
  }
  if (origin === undefined || raw === undefined) return undefined;
  try {
    return { origin, seq, body: JSON.parse(raw) as Body };
  } catch {
    return undefined;
  }
}

/** The id a client saw for an entry. */
export function clientId(entry: StreamEntry): string {
  return entryFields(entry)?.body.i ?? entry[0];
}

/** A history record for a body, with the `where` predicate resolved locally (or not at all). */
export function toRecord(
  body: Body,
  streamId: string,
  resolveWhere: (node: string, ref: string) => Target | undefined,
): HistoryRecord | undefined {
  const wire = body.t;
  let target: Target | undefined;
  if (wire.kind === 'where') target = resolveWhere(wire.node, wire.ref);
  else if (wire.kind === 'disconnect') target = undefined;
  else target = wire;
  if (target === undefined) return undefined;
  return { id: body.i ?? streamId, target, event: body.e, data: body.d, retry: body.r };
}

/** Compares two stream ids (`<ms>-<seq>`). */
export function compareStreamIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const ms = Number(a.slice(0, da)) - Number(b.slice(0, db));
  if (ms !== 0) return ms;
  return Number(a.slice(da + 1)) - Number(b.slice(db + 1));
}

/** The keys and channels of one node in a backplane named by `prefix`. */
export interface Keys {
  /** The stream holding the shared history. */
  readonly stream: string;
  /** The channel every node subscribes to. */
  readonly channel: string;
  /** This node's own channel (`sendWhere` echoes). */
  readonly nodeChannel: string;
  /** The set of reporting nodes. */
  readonly nodes: string;
  /** An app id's stream id. */
  appId(id: string): string;
  /** A node's last report. */
  nodeInfo(nodeId: string): string;
}

export function keysOf(prefix: string, origin: string): Keys {
  return {
    stream: `${prefix}:stream`,
    channel: `${prefix}:events`,
    nodeChannel: `${prefix}:node:${origin}`,
    nodes: `${prefix}:nodes`,
    appId: (id) => `${prefix}:aid:${id}`,
    nodeInfo: (nodeId) => `${prefix}:nodeinfo:${nodeId}`,
  };
}
