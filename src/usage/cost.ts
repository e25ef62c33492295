// A request's price, decimal-safe: prices are decimal strings per 1,000
// tokens (as the manifests write them), turned into integers once, and
// every cost is an integer count of nano-units (1e-9 of the currency), so
// totals are sums of integers and never drift. Cached input, cache writes
// and output are priced apart when the upstream reports them.
import type { Backend } from '../config/compile.ts'
import type { Usage } from '../providers/types.ts'

export const NANO = 1_000_000_000

/**
 * A decimal string times 1e9, exactly: "0.03" → 30000000n. For a price per
 * 1K tokens that is the price per token in pico-units (1e-12); for a price
 * per request, nano-units.
 */
function e9(price: string | undefined): bigint {
  if (!price) return 0n
  const [whole, frac = ''] = price.split('.')
  return BigInt(whole!) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9))
}

export interface Prices {
  input: bigint
  cachedInput: bigint
  cacheWrite: bigint
  output: bigint
  /** nano-units */
  request: bigint
  currency: string
  /** The same as Numbers, and the largest token price, for the exact Number path. */
  num: { input: number; cachedInput: number; cacheWrite: number; output: number; request: number; max: number }
}

const pricesCache = new WeakMap<Backend, Prices | null>()

export function pricesOf(backend: Backend): Prices | undefined {
  let p = pricesCache.get(backend)
  if (p === undefined) {
    const c = backend.spec.cost
    if (c) {
      const big = {
        input: e9(c.inputTokenCost),
        cachedInput: e9(c.cachedInputTokenCost ?? c.inputTokenCost),
        cacheWrite: e9(c.cacheWriteTokenCost ?? c.inputTokenCost),
        output: e9(c.outputTokenCost),
        request: e9(c.requestCost),
      }
      const num = { input: Number(big.input), cachedInput: Number(big.cachedInput), cacheWrite: Number(big.cacheWrite), output: Number(big.output), request: Number(big.request), max: 0 }
      num.max = Math.max(num.input, num.cachedInput, num.cacheWrite, num.output)
      p = { ...big, currency: c.currency, num }
    } else p = null
    pricesCache.set(backend, p)
  }
  return p ?? undefined
}

const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0)

/** pico → nano, rounding half to even, so rounding is unbiased over many requests. */
function toNano(pico: bigint): number {
  const q = pico / 1000n
  const r = pico % 1000n
  return Number(r > 500n || (r === 500n && q % 2n === 1n) ? q + 1n : q)
}

/** Cost in nano-units of the backend's currency; undefined when it has no prices. */
export function costNano(backend: Backend, usage: Usage | undefined): number | undefined {
  const p = pricesOf(backend)
  if (!p) return undefined
  const u = usage as (Usage & { prompt_tokens_details?: { cached_tokens?: number }; cache_creation_input_tokens?: number }) | undefined
  const prompt = n(u?.prompt_tokens)
  const cached = Math.min(prompt, n(u?.prompt_tokens_details?.cached_tokens))
  const written = Math.min(prompt - cached, n(u?.cache_creation_input_tokens))
  const plain = prompt - cached - written
  const out = n(u?.completion_tokens)
  // Integers below 2^53 add and multiply exactly as Numbers: BigInt only past that.
  const v = p.num
  if ((prompt + out) * v.max < Number.MAX_SAFE_INTEGER && v.request < Number.MAX_SAFE_INTEGER) {
    const pico = plain * v.input + cached * v.cachedInput + written * v.cacheWrite + out * v.output
    const q = Math.floor(pico / 1000)
    const r = pico - q * 1000
    return (r > 500 || (r === 500 && q % 2 === 1) ? q + 1 : q) + v.request
  }
  const pico = BigInt(plain) * p.input + BigInt(cached) * p.cachedInput + BigInt(written) * p.cacheWrite + BigInt(out) * p.output
  return toNano(pico) + Number(p.request)
}

/** Worst-case nano cost of a request before it is sent: `prompt` input tokens, `output` answer tokens. */
export function maxCostNano(backend: Backend, prompt: number, output: number): number {
  const p = pricesOf(backend)
  if (!p) return 0
  const input = p.input > p.cacheWrite ? p.input : p.cacheWrite
  return toNano(BigInt(prompt) * input + BigInt(output) * p.output) + Number(p.request)
}

/** nano-units as a decimal string: 262500 → "0.0002625". */
export function formatNano(nano: number): string {
  const neg = nano < 0
  const s = String(Math.abs(Math.round(nano))).padStart(10, '0')
  const whole = s.slice(0, -9)
  const frac = s.slice(-9).replace(/0+$/, '')
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`
}

/** A decimal string amount ("500.00") in nano-units. */
export const parseNano = (amount: string): number => Number(e9(amount))
