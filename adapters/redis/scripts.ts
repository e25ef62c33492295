// The Lua scripts behind RedisStore: one per atomic operation, each one
// round trip (EVALSHA). They use Redis's own clock (TIME), so replicas with
// drifting clocks agree, and they reproduce `gcra()` of src/state/store.ts
// exactly: the same double arithmetic in the same order.
//
// Numbers cross the wire as strings both ways: Redis turns a Lua number
// into an integer reply (truncating it), so scripts return `fmt(x)` — '%.17g',
// which round-trips every double — and 'inf' for Infinity. Stored values use
// the same format, so what the next script reads back is bit-for-bit what the
// last one computed.
import { createHash } from 'node:crypto'

export interface Script {
  name: string
  source: string
  sha: string
}

function script(name: string, body: string): Script {
  const source = `${PRELUDE}\n${body}`
  return { name, source, sha: createHash('sha1').update(source).digest('hex') }
}

const PRELUDE = `
local function fmt(x)
  if x == math.huge then return 'inf' end
  return string.format('%.17g', x)
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
-- A counter keeps the expiry it was created with; a new one gets ttlSeconds.
local function setcounter(key, existed, value, ttlSeconds)
  if existed then
    redis.call('SET', key, fmt(value), 'KEEPTTL')
  else
    redis.call('SET', key, fmt(value), 'PX', math.max(1, math.ceil(ttlSeconds * 1000)))
  end
end
-- A rate key lives until its TAT has passed (at least one period), plus a second.
local function settat(key, tat, now, period)
  redis.call('SET', key, fmt(tat), 'PX', math.ceil(math.max(tat - now, period)) + 1000)
end
-- gcra() of src/state/store.ts, line for line.
local function gcra(tat, now, limit, period, cost)
  local interval = period / limit
  local base = math.max(tat or now, now)
  local nxt = base + cost * interval
  local allowed = cost <= limit and nxt - now <= period
  local held = base
  if allowed then held = nxt end
  local retry = 0
  if not allowed then
    if cost > limit then retry = math.huge else retry = nxt - now - period end
  end
  -- Float error of a few ulps of base (epoch ms), as in store.ts.
  return allowed, held, math.max(0, math.floor((period - (held - now)) / interval + math.max(1e-9, 8 * 2.220446049250313e-16 * base / interval))), math.max(0, held - now), retry
end
`

/**
 * KEYS: the rate keys, then the budget keys.
 * ARGV: number of rates; per rate: limit, periodMs, cost; per budget: amount, limit, ttlSeconds.
 * Returns: allowed ('1'|'0'); per rate: allowed, remaining, resetMs, retryAfterMs; per budget: allowed, total.
 */
export const ADMIT = script(
  'admit',
  `
local now = clock()
local nr = tonumber(ARGV[1])
local nb = #KEYS - nr
local ok = true
local rates = {}
for i = 1, nr do
  local limit, period, cost = tonumber(ARGV[2 + (i - 1) * 3]), tonumber(ARGV[3 + (i - 1) * 3]), tonumber(ARGV[4 + (i - 1) * 3])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  local allowed, held, remaining, reset, retry = gcra(tat, now, limit, period, cost)
  rates[i] = { tat = tat, limit = limit, period = period, allowed = allowed, held = held, remaining = remaining, reset = reset, retry = retry }
  ok = ok and allowed
end
local budgets = {}
local at = 2 + nr * 3
for j = 1, nb do
  local amount, limit, ttl = tonumber(ARGV[at + (j - 1) * 3]), tonumber(ARGV[at + 1 + (j - 1) * 3]), tonumber(ARGV[at + 2 + (j - 1) * 3])
  local cur = redis.call('GET', KEYS[nr + j])
  local total = tonumber(cur) or 0
  local allowed = total + amount <= limit
  budgets[j] = { existed = cur ~= false, total = total, amount = amount, ttl = ttl, allowed = allowed }
  ok = ok and allowed
end
local out = { ok and '1' or '0' }
for i = 1, nr do
  local r = rates[i]
  if ok then settat(KEYS[i], r.held, now, r.period) end
  if not ok and r.allowed then
    -- Refused as a whole: a check that passed on its own reports what is left untouched.
    local _, _, remaining, reset, retry = gcra(r.tat, now, r.limit, r.period, 0)
    r.remaining, r.reset, r.retry = remaining, reset, retry
  end
  out[#out + 1] = r.allowed and '1' or '0'
  out[#out + 1] = fmt(r.remaining)
  out[#out + 1] = fmt(r.reset)
  out[#out + 1] = fmt(r.retry)
end
for j = 1, nb do
  local b = budgets[j]
  local total = b.total
  if ok then
    total = total + b.amount
    setcounter(KEYS[nr + j], b.existed, total, b.ttl)
  end
  out[#out + 1] = b.allowed and '1' or '0'
  out[#out + 1] = fmt(total)
end
return out
`,
)

/**
 * KEYS: the rate keys, then the counter keys.
 * ARGV: number of rates; per rate: limit, periodMs, delta; per counter: delta, ttlSeconds.
 */
export const SETTLE = script(
  'settle',
  `
local now = clock()
local nr = tonumber(ARGV[1])
for i = 1, nr do
  local limit, period, delta = tonumber(ARGV[2 + (i - 1) * 3]), tonumber(ARGV[3 + (i - 1) * 3]), tonumber(ARGV[4 + (i - 1) * 3])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i])) or now, now) + delta * period / limit
  if tat > now then settat(KEYS[i], tat, now, period) else redis.call('DEL', KEYS[i]) end
end
local at = 2 + nr * 3
for j = 1, #KEYS - nr do
  local delta, ttl = tonumber(ARGV[at + (j - 1) * 2]), tonumber(ARGV[at + 1 + (j - 1) * 2])
  local cur = redis.call('GET', KEYS[nr + j])
  setcounter(KEYS[nr + j], cur ~= false, (tonumber(cur) or 0) + delta, ttl)
end
return 1
`,
)

/**
 * KEYS: the hash. ARGV: ttlSeconds ('' for none), then field, delta pairs.
 */
export const ADD_FIELDS = script(
  'addFields',
  `
for i = 2, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[1] ~= '' then
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(ARGV[1]) * 1000)))
end
return 1
`,
)

/**
 * KEYS: the breakers hash. ARGV: field, open-until (ms). The latest trip wins;
 * the hash lives as long as its latest trip.
 */
export const TRIP_BREAKER = script(
  'tripBreaker',
  `
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local untilMs = tonumber(ARGV[2])
if untilMs > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local ttl = math.ceil(untilMs - clock())
if ttl > redis.call('PTTL', KEYS[1]) then redis.call('PEXPIRE', KEYS[1], math.max(1, ttl)) end
return 1
`,
)

/** KEYS: the breakers hash. Returns field, open-until pairs still in the future (Redis's clock), dropping the rest. */
export const OPEN_BREAKERS = script(
  'openBreakers',
  `
local now = clock()
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) > now then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
`,
)

export const SCRIPTS = [ADMIT, SETTLE, ADD_FIELDS, TRIP_BREAKER, OPEN_BREAKERS]
