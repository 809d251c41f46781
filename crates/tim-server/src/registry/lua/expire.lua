-- Frees a detached instance whose grace ended. KEYS: inst order. ARGV: id now_ms.
-- Reply: the freed instance's {platform, ip} (ip '' when unknown), or nil.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return false end
local c = parse(cur)
if c.untl == 0 or c.untl > tonumber(ARGV[2]) then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {c.platform, c.ip or ''}
