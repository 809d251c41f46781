-- Writes an account's ledger if nobody wrote it since it was read (version) and the writer still waits
-- for the answer (deadline, on Redis's clock): a write that arrives late never takes effect, so a node
-- that gave up on a call knows it did nothing.
-- KEYS: ledger. ARGV: version_read deadline_ms keep_until_ms('0': while it holds instances; '-': drop) data.
-- Reply: 1 written, 0 someone wrote first (read again), -1 too late (nothing written).
local v = redis.call('HGET', KEYS[1], 'v') or '0'
if v ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[2]) then return -1 end
if ARGV[3] == '-' then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'v', tostring(tonumber(v) + 1), 'd', ARGV[4])
if ARGV[3] == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
