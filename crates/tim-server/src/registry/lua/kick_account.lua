-- REST kick: revoke UserSigs issued at or before ARGV[1] and remove every instance as kicked.
-- KEYS: inst order kicked kick_type revoked. ARGV: revoke_secs now_ms kicked_cap.
-- Reply: per removed instance: id, node, conn, seq, until, platform, ip.
local r = tonumber(redis.call('GET', KEYS[5]) or '0')
if tonumber(ARGV[1]) > r then redis.call('SET', KEYS[5], ARGV[1]) end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local cur = redis.call('HGET', KEYS[1], id)
  remove_kicked(KEYS[1], KEYS[2], KEYS[3], KEYS[4], id, 'REST_API_Kick', tonumber(ARGV[2]), tonumber(ARGV[3]))
  push_removed(out, id, cur)
end
return out
