-- Shared by every script (prepended at build time). An instance record is the string
-- "seq node conn platform login_ms until ip": until = 0 while a connection holds it, else the end of its
-- resume grace (Unix ms); ip is the client address of its last connection (absent from older records).
-- KEYS of one account share one hash tag {sdkappid:userid}.
local function parse(rec)
  local seq, node, conn, platform, login, untl, ip =
    string.match(rec, '^(%d+) (%S+) (%d+) (%S+) (%d+) (%d+) ?(%S*)$')
  return {seq = seq, node = node, conn = conn, platform = platform, login = login, untl = tonumber(untl), ip = ip}
end
local function record(r)
  local out = table.concat({r.seq, r.node, r.conn, r.platform, r.login, tostring(r.untl)}, ' ')
  if r.ip and r.ip ~= '' then out = out .. ' ' .. r.ip end
  return out
end
-- Removes an instance and remembers it as kicked (so that its resume gets 80007) with its kick type.
-- Appends a removed instance to a script's reply: id node conn seq until platform ip (what
-- `Inner::evicted` reads), from its record `cur` (nil when it had none).
local function push_removed(out, id, cur)
  local p = cur and parse(cur) or {node = '', conn = '0', seq = '0', untl = 0, platform = 'web', ip = ''}
  for _, field in ipairs({id, p.node, p.conn, p.seq, tostring(p.untl), p.platform, p.ip or ''}) do
    table.insert(out, field)
  end
end

local function remove_kicked(inst, order, kicked, kick_type, id, ktype, now, cap)
  redis.call('HDEL', inst, id)
  redis.call('ZREM', order, id)
  if ktype ~= '' then
    redis.call('ZADD', kicked, now, id)
    redis.call('HSET', kick_type, id, ktype)
    local over = redis.call('ZCARD', kicked) - cap
    if over > 0 then
      local old = redis.call('ZRANGE', kicked, 0, over - 1)
      redis.call('ZREMRANGEBYRANK', kicked, 0, over - 1)
      redis.call('HDEL', kick_type, unpack(old))
    end
    redis.call('PEXPIRE', kicked, 86400000)
    redis.call('PEXPIRE', kick_type, 86400000)
  end
end
