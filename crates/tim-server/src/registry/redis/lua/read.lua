-- Reads an account's ledger with Redis's own time (the one clock every node's ledger uses).
-- KEYS: ledger [app settings, node index: for an admission on one Redis]. ARGV: [the instance's ref].
-- An admission indexes its instance under its node before the ledger names it, so that a write whose
-- answer is lost is still found by that node's reconciliation.
-- Reply: {version, data, unix_secs, micros, owi}.
local d = redis.call('HMGET', KEYS[1], 'v', 'd')
local t = redis.call('TIME')
local owi = ''
if KEYS[2] then owi = redis.call('HGET', KEYS[2], 'owi') or '' end
if KEYS[3] then redis.call('SADD', KEYS[3], ARGV[1]) end
return {d[1] or '0', d[2] or '', t[1], t[2], owi}
