/**
 * The demo's events, declared once with schemas (zod): the server's hub validates every send
 * against them and the page's `SSEClient<DemoEvents>` is typed by them.
 *
 * The send panel can publish any other name with any JSON, so the page still renders payloads
 * defensively.
 */

import { defineEvents, type InferEvents } from '@ssehub/core';
import { z } from 'zod';

export const notification = z.looseObject({
  title: z.string(),
  content: z.string(),
  level: z.enum(['info', 'success', 'warning']).optional(),
  /** Milliseconds since the epoch. */
  at: z.number().optional(),
});

const standing = z.object({
  id: z.string(),
  score: z.number(),
  rank: z.number().int().min(1),
  /** Whether the player is connected (bots always are). */
  online: z.boolean(),
  bot: z.boolean(),
});

/** A user came online in (`join`), or left (`leave`), a group: the hub's presence events. */
const presence = z.object({ group: z.string(), id: z.string() });

/**
 * The demo's event catalog: one zod schema per event. The server's hub is typed and validated by
 * it (`new Hub({ events: demoEvents })`: a publish of one of these names with the wrong shape gets
 * 400), `GET /api/v1/sse/asyncapi.json` publishes it, and the page's `SSEClient<DemoEvents>` is
 * typed by it (public/app.js imports these types through JSDoc). The send panel may still send
 * other names, which the hub passes unchecked.
 */
export const demoEvents = defineEvents({
  /** A message for one user. */
  notification,
  /** One step of a simulated server task. */
  task_progress: z.object({
    taskId: z.string(),
    /** 0 to 100. */
    percent: z.number().min(0).max(100),
    /** What the task is doing now. */
    step: z.string(),
    done: z.boolean(),
  }),
  /** The whole leaderboard of a challenge, sent to its group. */
  rank_update: z.object({ challenge: z.string(), ranking: z.array(standing) }),
  /** Something happened in a challenge. */
  challenge_update: z.object({
    challenge: z.string(),
    round: z.number().int(),
    /** Who solved a problem this round, and for how many points. */
    solver: z.string(),
    points: z.number(),
    /** Problems solved so far in this challenge. */
    solves: z.number().int(),
    message: z.string(),
  }),
  /** A user came online in a group. */
  join: presence,
  /** A user left a group. */
  leave: presence,
  /** A system broadcast. */
  system: z.looseObject({
    message: z.string(),
    level: z.enum(['info', 'maintenance']).optional(),
    at: z.number().optional(),
  }),
  /**
   * Sent by the demo server on each connection right after the hub's replay: every event between
   * `connected` and `live` was replayed from the history (see `demo.ts`).
   */
  live: z.object({ connectionId: z.string() }),
});

export type DemoEvents = InferEvents<typeof demoEvents>;
export type Notification = DemoEvents['notification'];
export type TaskProgress = DemoEvents['task_progress'];
export type RankUpdate = DemoEvents['rank_update'];
export type Standing = RankUpdate['ranking'][number];
export type ChallengeUpdate = DemoEvents['challenge_update'];
export type Presence = DemoEvents['join'];
export type SystemMessage = DemoEvents['system'];
export type Live = DemoEvents['live'];

/** The event names of the map, for the send panel. */
export const DEMO_EVENT_NAMES = [
  'notification',
  'task_progress',
  'rank_update',
  'challenge_update',
  'join',
  'leave',
  'system',
] as const;

/** What `GET /demo/config` tells the page. */
export interface DemoConfig {
  /** Where the reference routes live (`SSE_BASE`, default `/api/v1/sse`). */
  base: string;
  /** Streams need a token (`SSE_SECRET` is set): get one from `POST /demo/token`. */
  tokenRequired: boolean;
  /**
   * Admin routes need the publisher key (always: `SSE_PUBLISH_KEY`, or one the demo made at start);
   * the demo's `/demo/admin/*` proxy adds it server-side.
   */
  publisherKey: boolean;
}
