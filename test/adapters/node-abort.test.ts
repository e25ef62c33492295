// The Node gateway's cheap abort signals behave as AbortSignal does where the
// gateway and undici use them.
import { describe, expect, it } from 'vitest'
import { LiteAbortController } from '../../adapters/node/abort.ts'

describe('LiteAbortSignal', () => {
  it('calls each listener once, in order, with onabort first; once-listeners and removed ones do not come back', () => {
    const c = new LiteAbortController()
    const s = c.signal as unknown as AbortSignal
    const calls: string[] = []
    const a = () => calls.push('a')
    const removed = () => calls.push('removed')
    s.onabort = () => calls.push('onabort')
    s.addEventListener('abort', a)
    s.addEventListener('abort', a) // the same listener twice counts once
    s.addEventListener('abort', { handleEvent: (e) => calls.push(`object ${e.type}`) }, { once: true })
    s.addEventListener('abort', removed)
    s.removeEventListener('abort', removed)
    expect(s instanceof AbortSignal).toBe(true)
    expect(s.aborted).toBe(false)
    c.abort(new Error('gone'))
    c.abort(new Error('again')) // only the first abort counts
    expect(calls).toEqual(['onabort', 'a', 'object abort'])
    expect(s.aborted).toBe(true)
    expect((s.reason as Error).message).toBe('gone')
    expect(() => s.throwIfAborted()).toThrow('gone')
  })

  it('aborts with an AbortError when no reason is given, and its real() signal follows', () => {
    const c = new LiteAbortController()
    const real = c.signal.real()
    expect(real.aborted).toBe(false)
    c.abort()
    expect(real.aborted).toBe(true)
    expect((c.signal.reason as DOMException).name).toBe('AbortError')
    expect(real.reason).toBe(c.signal.reason)
    // Asked for after the abort, real() is aborted already.
    const late = new LiteAbortController()
    late.abort('why')
    expect(late.signal.real().reason).toBe('why')
  })

  it('a listener that throws does not stop the others', async () => {
    const c = new LiteAbortController()
    const calls: number[] = []
    const errors: unknown[] = []
    const onError = (e: unknown) => errors.push(e)
    process.on('uncaughtException', onError)
    try {
      c.signal.addEventListener('abort', () => {
        throw new Error('listener failed')
      })
      c.signal.addEventListener('abort', () => calls.push(2))
      c.abort()
      await new Promise((r) => setTimeout(r, 10))
    } finally {
      process.off('uncaughtException', onError)
    }
    expect(calls).toEqual([2])
    expect(errors).toHaveLength(1)
  })
})
