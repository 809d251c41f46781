-- Admission of one instance: the multi-instance rule as one atomic step.
-- KEYS: inst(hash id->record) order(zset id->seq) seq(counter) kicked(zset) kick_type(hash) revoked
--       [settings (hash owi), one Redis only: on a cluster the node reads it just before]
-- ARGV: id presented(0|1) node conn platform now_ms sig_time limit kicked_cap ip
-- Reply: {'revoked'} | {'gone'} | {'resumed', seq, old_node, old_conn} |
--        {'ok', seq, then per evicted instance: id, node, conn, seq, until, platform, ip}
local inst, order, seqk, kicked, kick_type, revoked = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, presented, node, conn, platform = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, sig_time, limit, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local ip = ARGV[10] or ''
local r = redis.call('GET', revoked)
if r and sig_time <= tonumber(r) then return {'revoked'} end
if presented == '1' and redis.call('ZSCORE', kicked, id) then return {'gone'} end
if KEYS[7] then
  local v = redis.call('HGET', KEYS[7], 'owi')
  if v then limit = tonumber(v) end
end
if limit < 1 then limit = 1 end
local cur = redis.call('HGET', inst, id)
if cur then
  -- Resume: keep the slot, its order and login time; evict no one.
  local c = parse(cur)
  local old_node, old_conn = '', ''
  if c.untl == 0 and not (c.node == node and c.conn == conn) then old_node, old_conn = c.node, c.conn end
  c.node, c.conn, c.platform, c.untl, c.ip = node, conn, platform, 0, ip
  redis.call('HSET', inst, id, record(c))
  return {'resumed', c.seq, old_node, old_conn}
end
local n = redis.call('ZCARD', order)
-- An unknown presented id (grace over, state lost) is a fresh login only while a slot is free.
if presented == '1' and n >= limit then return {'gone'} end
local seq = redis.call('INCR', seqk)
redis.call('ZADD', order, seq, id)
redis.call('HSET', inst, id, record({seq = seq, node = node, conn = conn, platform = platform, login = now, untl = 0, ip = ip}))
local out = {'ok', tostring(seq)}
n = n + 1
if n > limit then
  local victims = redis.call('ZRANGE', order, 0, n - limit - 1)
  for _, v in ipairs(victims) do
    local vr = redis.call('HGET', inst, v)
    -- The kick type names the evicting login (platform, time) for the reconciliation of the victim's node.
    remove_kicked(inst, order, kicked, kick_type, v, 'multipleAccount ' .. platform .. ' ' .. ARGV[6], now, cap)
    push_removed(out, v, vr)
  end
end
return out
