-- Writes an account's ledger if nobody wrote it since it was read (version) and the writer still waits
-- for the answer (deadline, on Redis's clock): a write that arrives late never takes effect, so a node
-- that gave up on a call knows it did nothing.
-- KEYS: ledger [node index, detached set, app settings: on one Redis, the writes the events call for run
--       here too]
-- ARGV: version_read deadline_ms keep_until_ms('0': while it holds instances; '-': drop) data
--       owi_expected ('*': no check; else the app's OnlineWebInstances the ledger was computed with, '' for
--       none: a write from a node's cached ledger, which read no settings)
--       [n refs to SADD to the index, n refs to SREM from it, n (score ref) to ZADD to the detached set,
--        n refs to ZREM from it, n (channel message) to PUBLISH]
-- Reply: {'1'} written; {'-1'} too late (nothing written); {'0', version, data, unix_secs, micros, owi}:
-- someone wrote first or the limit changed, and this is the account's ledger now (what a read would
-- answer: the writer tries again from it, with no read of its own).
local v = redis.call('HGET', KEYS[1], 'v') or '0'
local t = redis.call('TIME')
local owi = ''
if KEYS[4] then owi = redis.call('HGET', KEYS[4], 'owi') or '' end
if v ~= ARGV[1] or (ARGV[5] ~= '*' and owi ~= ARGV[5]) then
  return {'0', v, redis.call('HGET', KEYS[1], 'd') or '', t[1], t[2], owi}
end
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[2]) then return {'-1'} end
if ARGV[3] == '-' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'v', tostring(tonumber(v) + 1), 'd', ARGV[4])
  if ARGV[3] == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
end
-- Best effort, as when they run apart: `pcall`, so that a refused one (an ACL on channels, say) never
-- aborts the script after its ledger write (a script's writes are not rolled back).
if KEYS[2] then
  local i = 6
  local n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do redis.pcall('SADD', KEYS[2], ARGV[i]); i = i + 1 end
  n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do redis.pcall('SREM', KEYS[2], ARGV[i]); i = i + 1 end
  n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do redis.pcall('ZADD', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
  n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do redis.pcall('ZREM', KEYS[3], ARGV[i]); i = i + 1 end
  n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do redis.pcall('PUBLISH', ARGV[i], ARGV[i + 1]); i = i + 2 end
end
return {'1'}
