-- Logout, idle timeout or UserSig expiry of an instance held by (node, conn); ktype '' for no kick.
-- KEYS: inst order kicked kick_type. ARGV: id node conn ktype now_ms kicked_cap. Reply: 1 removed, 0 not.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local c = parse(cur)
if c.node ~= ARGV[2] or c.conn ~= ARGV[3] or c.untl ~= 0 then return 0 end
remove_kicked(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
return 1
