// LazyStream: a stream body whose Web stream is made only if something reads it as one.
import { describe, expect, it } from 'vitest'
import { BYTE_SOURCE, LazyStream, claimBytes, responseBody, webStream, type ByteReader, type ByteSource } from '../../src/providers/types.ts'

const enc = new TextEncoder()

/** A LazyStream over `pieces`, counting the Web streams it makes. */
function lazyOf(pieces: string[]) {
  let made = 0
  let reader: ByteReader | undefined
  const source: ByteSource = {
    read: (r) => {
      reader = r
      for (const p of pieces) r.data(enc.encode(p))
      r.end()
    },
    resume() {},
    cancel() {},
  }
  const lazy = new LazyStream(
    () => {
      made++
      return new Response(pieces.join('')).body!
    },
    () => source,
  )
  return { lazy, made: () => made, claimed: () => reader !== undefined }
}

describe('LazyStream', () => {
  it('claimed first: the bytes come by callbacks, no Web stream is made, and a second claim gets nothing', () => {
    const { lazy, made } = lazyOf(['a', 'b'])
    const got: string[] = []
    claimBytes(lazy)!.read({ data: (c) => (got.push(new TextDecoder().decode(c)), true), end() {}, error() {} })
    expect(got).toEqual(['a', 'b'])
    expect(made()).toBe(0)
    expect(claimBytes(lazy)).toBeUndefined()
    // Its Web stream, asked for after the claim, is a locked one: the bytes are gone.
    expect(webStream(lazy).locked).toBe(true)
    expect(made()).toBe(0)
  })

  it('read as a Web stream first: the stream is made once, and a later claim falls back to reading it', async () => {
    const { lazy, made, claimed } = lazyOf(['x', 'y'])
    const web = webStream(lazy)
    expect(webStream(lazy)).toBe(web)
    expect(made()).toBe(1)
    expect(claimBytes(lazy)).toBeUndefined()
    expect(await new Response(web).text()).toBe('xy')
    expect(claimed()).toBe(false)
  })

  it('a maker that refuses the claim leaves the bytes to the Web stream', async () => {
    const lazy = new LazyStream(
      () => new Response('late').body!,
      () => undefined,
    )
    expect(lazy[BYTE_SOURCE]()).toBeUndefined()
    expect(lazy.locked).toBe(false)
    expect(await new Response(webStream(lazy)).text()).toBe('late')
  })

  it('a Response gets the Web stream unless the runtime says its Response takes a LazyStream', async () => {
    const { lazy, made } = lazyOf(['p', 'q'])
    const body = responseBody(lazy)
    expect(body).toBeInstanceOf(ReadableStream)
    expect(made()).toBe(1)
    expect(await new Response(body).text()).toBe('pq')
  })
})
