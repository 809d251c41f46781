-- Reads an account's ledger with Redis's own time (the one clock every node's ledger uses).
-- KEYS: ledger [app settings, one Redis only]. Reply: {version, data, unix_secs, micros, owi}.
local d = redis.call('HMGET', KEYS[1], 'v', 'd')
local t = redis.call('TIME')
local owi = ''
if KEYS[2] then owi = redis.call('HGET', KEYS[2], 'owi') or '' end
return {d[1] or '0', d[2] or '', t[1], t[2], owi}
