/**
 * The demo's event map: one declaration for the server's `Hub<DemoEvents>` and the page's
 * `SSEClient<DemoEvents>` (public/app.js imports these types through JSDoc).
 *
 * The send panel can publish any name and any JSON, so the page still renders payloads
 * defensively: the map says what the demo's own server sends.
 */

/** A message for one user. */
export interface Notification {
  title: string;
  content: string;
  level?: 'info' | 'success' | 'warning';
  /** Milliseconds since the epoch. */
  at?: number;
}

/** One step of a simulated server task. */
export interface TaskProgress {
  taskId: string;
  /** 0 to 100. */
  percent: number;
  /** What the task is doing now. */
  step: string;
  done: boolean;
}

/** One row of a challenge's leaderboard. */
export interface Standing {
  id: string;
  score: number;
  rank: number;
  /** Whether the player is connected (bots always are). */
  online: boolean;
  bot: boolean;
}

/** The whole leaderboard of a challenge, sent to its group. */
export interface RankUpdate {
  challenge: string;
  ranking: Standing[];
}

/** Something happened in a challenge. */
export interface ChallengeUpdate {
  challenge: string;
  round: number;
  /** Who solved a problem this round, and for how many points. */
  solver: string;
  points: number;
  /** Problems solved so far in this challenge. */
  solves: number;
  message: string;
}

/** A user came online in (`join`), or left (`leave`), a group: the hub's presence events. */
export interface Presence {
  group: string;
  id: string;
}

/** A system broadcast. */
export interface SystemMessage {
  message: string;
  level?: 'info' | 'maintenance';
  at?: number;
}

/**
 * Sent by the demo server on each connection right after the hub's replay: every event between
 * `connected` and `live` was replayed from the history (see `demo.ts`).
 */
export interface Live {
  connectionId: string;
}

export type DemoEvents = {
  notification: Notification;
  task_progress: TaskProgress;
  rank_update: RankUpdate;
  challenge_update: ChallengeUpdate;
  join: Presence;
  leave: Presence;
  system: SystemMessage;
  live: Live;
};

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
