/** The benchmark's sends mapped onto ssehub's public Hub API; shared by every ssehub server. */
import type { Hub } from '@ssehub/core';
import type { BenchTarget } from './control.js';

export function hubTarget(hub: Hub): BenchTarget {
  return {
    broadcast(payload) {
      void hub.broadcast({ data: payload });
    },
    unicast(client, payload) {
      void hub.send(client, { data: payload });
    },
    many(clients, payload) {
      void hub.sendMany(clients, { data: payload });
    },
    group(group, payload) {
      void hub.sendGroup(group, { data: payload });
    },
    clients: () => hub.info().connectionCount,
  };
}
