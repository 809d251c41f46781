-- The connection dropped (or its node died): keep the slot until ARGV[4] if (node, conn) still holds it;
-- conn '*' matches any connection of the node (dead-node purge). KEYS: inst. ARGV: id node conn until.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local c = parse(cur)
if c.node ~= ARGV[2] or (ARGV[3] ~= '*' and c.conn ~= ARGV[3]) or c.untl ~= 0 then return 0 end
c.untl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], record(c))
return 1
