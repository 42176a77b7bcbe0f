/** What the test and `fixtures/hub-server.ts` say to each other over IPC. */

import type { HubInfo } from '@ssehub/core';

export type FixtureRequest =
  | { cmd: 'stats' }
  /** The hub's counters, connection and socket counts only: cheap, for polling under load. */
  | { cmd: 'counters' }
  /** Collects garbage (several rounds), then answers with stats. */
  | { cmd: 'gc' }
  /** Every `intervalMs`, `perTick` broadcasts of `tick` events: `<wall-clock ms> <seq> <pad>`. */
  | {
      cmd: 'broadcast-start';
      intervalMs: number;
      perTick: number;
      padBytes: number;
      /** Each tick also sends a `bulk` event of `padBytes` to this group. */
      bulk?: { group: string; padBytes: number };
    }
  | { cmd: 'broadcast-stop' }
  /** Samples queues, socket buffers and memory every `intervalMs`, keeping the peaks. */
  | { cmd: 'sample-start'; intervalMs: number }
  | { cmd: 'sample-stop' }
  | { cmd: 'send-group'; group: string; event: string; data: string };

export type FixtureReply =
  | { seq: number; ok: true; value: unknown }
  | { seq: number; ok: false; error: string };

export interface Peaks {
  queuedTotal: number;
  queuedMax: number;
  socketBufferedTotal: number;
  socketBufferedMax: number;
}

export interface ServerStats {
  info: HubInfo;
  /** Connections between onConnect and onDisconnect. */
  trackedConnections: number;
  disconnectReasons: Record<string, number>;
  hookErrors: number;
  /** Open TCP sockets of the server. */
  sockets: number;
  /** `drain` listeners over the open sockets. */
  drainListeners: number;
  /** `close` listeners over the open sockets, the fixture's own not counted. */
  closeListeners: number;
  /** Bytes Node holds for a socket beyond the kernel (largest, and over all sockets). */
  socketBufferedMax: number;
  socketBufferedTotal: number;
  /** Bytes queued in the hub's connections (largest, and over all). */
  queuedMax: number;
  queuedTotal: number;
  queuedEventsMax: number;
  /** `process.getActiveResourcesInfo()`, counted by kind. */
  resources: Record<string, number>;
  /** Live intervals and timeouts of the process, unref'd ones included. */
  timers: { intervals: number; timeouts: number };
  serverListeners: number;
  memory: NodeJS.MemoryUsage;
  responsesCreated: number;
  responsesCollected: number;
  broadcasts: number;
  peaks: Peaks;
}

export interface CountersReply {
  counters: HubInfo['counters'];
  connectionCount: number;
  sockets: number;
}
