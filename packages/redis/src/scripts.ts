/**
 * The Lua scripts. Each runs atomically on the Redis server, which is what makes the cluster's
 * order exact: an event is added to the stream and published in one step, so every node receives
 * the events on pub/sub in exactly the order of their stream ids.
 */

/**
 * Appends an event and publishes it.
 *
 * KEYS: stream, app-id key. ARGV: origin node, send sequence, body, max length, max age (ms),
 * channel, app id ('' for none). Returns the stream id.
 */
export const APPEND = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[1], 's', ARGV[2], 'm', ARGV[3])
local age = tonumber(ARGV[5])
local now = redis.call('TIME')
local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - age
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', minid))
redis.call('PEXPIRE', KEYS[1], age)
if ARGV[7] ~= '' then redis.call('SET', KEYS[2], id, 'PX', age) end
if ARGV[6] ~= '' then
  redis.call('PUBLISH', ARGV[6], id .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
end
return id
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
