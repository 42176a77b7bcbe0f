/**
 * better-sse on node:http, used as its docs show: one session per request, a channel for
 * everyone and one per group; `channel.broadcast` for broadcast and group, `session.push` for
 * unicast. Library defaults otherwise (keep-alive, retry, JSON serialiser).
 */
import { type Channel, createChannel, createSession, type Session } from 'better-sse';
import { type BenchTarget, clientOf } from './control.js';
import { hostNode } from './node-host.js';

const everyone: Channel = createChannel();
const groups = new Map<string, Channel>();
const sessions = new Map<string, Session>();

const target: BenchTarget = {
  broadcast(payload) {
    everyone.broadcast(payload);
  },
  unicast({ id }, payload) {
    sessions.get(id)?.push(payload);
  },
  group(group, payload) {
    groups.get(group)?.broadcast(payload);
  },
  clients: () => everyone.sessionCount,
};

hostNode(target, (req, res) => {
  const { group, id } = clientOf(req.url ?? '');
  createSession(req, res).then((session) => {
    everyone.register(session);
    let channel = groups.get(group);
    if (!channel) groups.set(group, (channel = createChannel()));
    channel.register(session);
    sessions.set(id, session);
    session.once('disconnected', () => {
      if (sessions.get(id) === session) sessions.delete(id);
    });
  });
});
