/**
 * The Lua scripts. Each runs atomically on the Redis server, which is what makes the cluster's
 * order exact: an event is added to the stream and published in one step, so every node receives
 * the events on pub/sub in exactly the order of their stream ids.
 */

/**
 * Appends a batch of sends (the sends of one tick, in order) and publishes them.
 *
 * KEYS: stream, then the app-id key of each send that has an app id, in order. ARGV: origin node,
 * max length, max age (ms), then four per send: send sequence, body, channel ('' for none), app
 * id ('' for none). Each send is added to the stream; consecutive sends for one channel go out as
 * one message of envelopes joined by line breaks (see `wire.ts`), so the messages keep the stream
 * order. Trims once. Returns the stream ids, in send order.
 */
export const APPEND = `
local origin, maxlen, age = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ids, parts, channel, key = {}, {}, nil, 1
local function flush()
  if #parts > 0 then redis.call('PUBLISH', channel, table.concat(parts, '\\n')) end
  parts = {}
end
for i = 4, #ARGV, 4 do
  local seq, body, to, appid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'o', origin, 's', seq, 'm', body)
  ids[#ids + 1] = id
  if appid ~= '' then
    key = key + 1
    redis.call('SET', KEYS[key], id, 'PX', age)
  end
  if to ~= '' then
    if to ~= channel then
      flush()
      channel = to
    end
    parts[#parts + 1] = id .. '\\n' .. origin .. '\\n' .. seq .. '\\n' .. body
  end
end
flush()
local now = redis.call('TIME')
local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - age
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', minid))
redis.call('PEXPIRE', KEYS[1], age)
return ids
`;

/**
 * Reads what followed a Last-Event-ID.
 *
 * KEYS: stream, app-id key for the id. ARGV: the id, max events, the caller's delivered
 * watermark ('' for none), max entries after the watermark. The id is found when it names a
 * retained entry, directly or through the app-id key. Returns `{0, newest entry or nil}` when it
 * is not retained, otherwise `{1, its stream id, entries after it, entries after the watermark
 * up to it}`.
 */
export const SINCE = `
local last = redis.call('GET', KEYS[2])
if not last and string.match(ARGV[1], '^%d+%-%d+$') then last = ARGV[1] end
if last then
  -- pcall: a client's id may look like a stream id and still not be one (too large).
  local hit = redis.pcall('XRANGE', KEYS[1], last, last)
  if type(hit) ~= 'table' or hit.err or #hit == 0 then last = false end
end
if not last then
  return {0, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)}
end
local after = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', ARGV[2])
local seen = {}
if ARGV[3] ~= '' then
  seen = redis.call('XRANGE', KEYS[1], '(' .. ARGV[3], last, 'COUNT', ARGV[4])
end
return {1, last, after, seen}
`;

/**
 * Presence of one node, and the reaping of dead ones (`presence.ts`).
 *
 * Keys under ARGV[1] (the prefix): `presence:nodes`, a sorted set of node -> lease end (ms);
 * `presence:node:<node>`, the set of `group\0id` the node holds; `presence:g:<group>`, a hash of
 * `node\0id` -> `{c: connections, m: meta}`; `presence:n:<group>`, a hash of id -> nodes holding it.
 *
 * ARGV: prefix, this node, lease (ms), prune ('1': drop what the ops do not put), then ops in
 * fours: `p` (put) or `d` (remove), group, id, payload. Renews the node's lease, applies the ops,
 * then removes the clients of up to 16 nodes whose lease ended. Returns `{fresh, kind, group, id,
 * ...}`: fresh is 1 when the node was not registered (first call, or it was reaped), followed by
 * each join (a client's first node) and leave (its last) the call caused.
 */
export const PRESENCE_SYNC = `
local p, origin = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nodes = p .. ':presence:nodes'
local out = {redis.call('ZADD', nodes, now + tonumber(ARGV[3]), origin)}
local function held(node) return p .. ':presence:node:' .. node end
local function put(group, id, payload)
  if redis.call('HSET', p .. ':presence:g:' .. group, origin .. '\\0' .. id, payload) == 1 then
    redis.call('SADD', held(origin), group .. '\\0' .. id)
    if redis.call('HINCRBY', p .. ':presence:n:' .. group, id, 1) == 1 then
      table.insert(out, 'join'); table.insert(out, group); table.insert(out, id)
    end
  end
end
local function del(node, group, id)
  if redis.call('HDEL', p .. ':presence:g:' .. group, node .. '\\0' .. id) == 1 then
    redis.call('SREM', held(node), group .. '\\0' .. id)
    local count = p .. ':presence:n:' .. group
    if redis.call('HINCRBY', count, id, -1) <= 0 then
      redis.call('HDEL', count, id)
      table.insert(out, 'leave'); table.insert(out, group); table.insert(out, id)
    end
  end
end
local function split(member)
  local s = string.find(member, '\\0', 1, true)
  return string.sub(member, 1, s - 1), string.sub(member, s + 1)
end
local keep = {}
for i = 5, #ARGV, 4 do
  if ARGV[i] == 'p' then
    put(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    keep[ARGV[i + 1] .. '\\0' .. ARGV[i + 2]] = true
  else
    del(origin, ARGV[i + 1], ARGV[i + 2])
  end
end
if ARGV[4] == '1' then
  for _, member in ipairs(redis.call('SMEMBERS', held(origin))) do
    if not keep[member] then del(origin, split(member)) end
  end
end
for _, node in ipairs(redis.call('ZRANGEBYSCORE', nodes, '-inf', now, 'LIMIT', 0, 16)) do
  for _, member in ipairs(redis.call('SMEMBERS', held(node))) do del(node, split(member)) end
  redis.call('DEL', held(node))
  redis.call('ZREM', nodes, node)
end
return out
`;

/**
 * A group's presence on the live nodes. ARGV: prefix, group. Returns `{id, payload, ...}`, one
 * pair per node that holds the client and whose lease has not ended.
 */
export const PRESENCE_LIST = `
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', p .. ':presence:g:' .. ARGV[2])
local live, out = {}, {}
for i = 1, #all, 2 do
  local s = string.find(all[i], '\\0', 1, true)
  local node = string.sub(all[i], 1, s - 1)
  if live[node] == nil then
    local lease = redis.call('ZSCORE', p .. ':presence:nodes', node)
    live[node] = lease ~= false and tonumber(lease) > now
  end
  if live[node] then
    table.insert(out, string.sub(all[i], s + 1)); table.insert(out, all[i + 1])
  end
end
return out
`;
