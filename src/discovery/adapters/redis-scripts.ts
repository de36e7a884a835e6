/**
 * The Lua scripts of the `redis` adapter: each change to a member's entries
 * and its publication happen in one step on the server, under the server's
 * clock. Loaded by hash, sent whole when the server does not know them yet.
 */
import { createHash } from 'node:crypto';

// KEYS: members, entries, seq. Server time in ms.
const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const FIRST = `local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or false`;
const publish = (type: string, entry: string) =>
  `redis.call('PUBLISH', ARGV[1], cjson.encode({t='${type}', id=ARGV[2], e=${entry}, s=redis.call('INCR', KEYS[3])}))`;

/** ARGV: channel, id, entry, ttl, address. Refuses an id a live member at another address holds. */
const REGISTER = `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if score and tonumber(score) > now then
  local held = redis.call('HGET', KEYS[2], ARGV[2])
  if held then
    local ok, e = pcall(cjson.decode, held)
    if ok and type(e) == 'table' and e.address ~= ARGV[5] and not e.leaving then return {'held', held} end
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
${publish('up', 'ARGV[3]')}
return {'ok', tostring(now)}`;

/** ARGV: channel, id, entry, ttl. Extends the score; writes the entry again if the server lost it. */
const REFRESH = `${NOW}
local readded = 0
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  ${publish('up', 'ARGV[3]')}
  readded = 1
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
${FIRST}
return {readded, tostring(now), first}`;

/** ARGV: channel, id, entry, ttl. New metadata: rewrite and announce. */
const UPDATE = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
${publish('up', 'ARGV[3]')}
return 1`;

/** ARGV: channel, id. A graceful leave. */
const LEAVE = `redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
${publish('left', 'false')}
return 1`;

/** ARGV: channel. Removes every entry whose expiry has passed and announces each. */
const SWEEP = `${NOW}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('PUBLISH', ARGV[1], cjson.encode({t='expired', id=id, s=redis.call('INCR', KEYS[3])}))
end
${FIRST}
return {#expired, tostring(now), first}`;

/** ARGV: channel, max entry bytes. The live members at one seq; oversized entries are not read. */
const LIST = `${NOW}
local seq = redis.call('GET', KEYS[3]) or '0'
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, id in ipairs(ids) do
  local size = redis.call('HSTRLEN', KEYS[2], id)
  if size > tonumber(ARGV[2]) then out[#out + 1] = {id, false, size}
  else out[#out + 1] = {id, redis.call('HGET', KEYS[2], id) or false, size} end
end
return {seq, tostring(now), out}`;

/** A script, and the SHA-1 Redis knows it by, hashed when first asked for rather than when the module loads. */
export class Script {
  #sha: string | undefined;
  constructor(readonly source: string) {}
  get sha(): string {
    return (this.#sha ??= createHash('sha1').update(this.source).digest('hex'));
  }
}
export const scripts = {
  register: new Script(REGISTER),
  refresh: new Script(REFRESH),
  update: new Script(UPDATE),
  leave: new Script(LEAVE),
  sweep: new Script(SWEEP),
  list: new Script(LIST),
};
