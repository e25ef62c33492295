// The test API server is only worth what it is faithful in: these pin the
// behaviours the controller relies on, as a real API server has them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeApiServer, PATHS } from './fake-apiserver.ts'
import { G } from './helpers.ts'

let api: FakeApiServer
beforeEach(async () => {
  api = new FakeApiServer()
  await api.start()
})
afterEach(() => api.stop())

/** Reads a watch stream's events until `n` arrived (or the stream ends). */
async function events(path: string, n: number): Promise<any[]> {
  const res = await fetch(`${api.url}${path}`)
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  const out: any[] = []
  let buf = ''
  while (out.length < n) {
    const { value, done } = await reader.read()
    if (done) break
    buf += value
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      out.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
    }
  }
  await reader.cancel()
  return out
}

const route = (spec: unknown) => ({ apiVersion: G, kind: 'InferenceRoute', metadata: { name: 'r', namespace: 'apps' }, spec })

describe('FakeApiServer', () => {
  it('lists with a resourceVersion; watches replay from it and stream live events; one counter for every change', async () => {
    api.apply(route({ defaultBackend: { name: 'a' } }))
    const list = (await (await fetch(`${api.url}${PATHS.routes}`)).json()) as any
    expect(list.kind).toBe('InferenceRouteList')
    const rv = Number(list.metadata.resourceVersion)
    expect(Number(list.items[0].metadata.resourceVersion)).toBe(rv)
    const watching = events(`${PATHS.routes}?watch=true&resourceVersion=${rv}`, 3)
    await new Promise((r) => setTimeout(r, 50))
    api.apply(route({ defaultBackend: { name: 'b' } }))
    api.apply({ ...route({ defaultBackend: { name: 'b' } }), metadata: { name: 'r', namespace: 'apps', labels: { x: 'y' } } })
    api.remove(PATHS.routes, 'apps', 'r')
    const got = await watching
    expect(got.map((e) => e.type)).toEqual(['MODIFIED', 'MODIFIED', 'DELETED'])
    expect(got.map((e) => Number(e.object.metadata.resourceVersion))).toEqual([rv + 1, rv + 2, rv + 3])
    expect(got.map((e) => e.object.metadata.generation)).toEqual([2, 2, 2]) // labels are not spec
  })

  it('410 Gone for a compacted resourceVersion; BOOKMARKs only when asked', async () => {
    api.apply(route({ defaultBackend: { name: 'a' } }))
    const rv = api.resourceVersion
    api.apply(route({ defaultBackend: { name: 'b' } }))
    api.compact()
    const [gone] = await events(`${PATHS.routes}?watch=true&resourceVersion=${rv}`, 1)
    expect(gone).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } })
    const watching = events(`${PATHS.routes}?watch=true&resourceVersion=${api.resourceVersion}&allowWatchBookmarks=true`, 1)
    await new Promise((r) => setTimeout(r, 50))
    api.bookmark()
    expect((await watching)[0]).toMatchObject({ type: 'BOOKMARK', object: { metadata: { resourceVersion: String(api.resourceVersion) } } })
  })

  it('status: merge-patch only (JSON Patch gets 415), no generation bump; PUT with a stale resourceVersion gets 409', async () => {
    const r = api.apply(route({ defaultBackend: { name: 'a' } }))
    const url = `${api.url}${PATHS.routes.replace('/inferenceroutes', '/namespaces/apps/inferenceroutes')}/r`
    const json = await fetch(`${url}/status`, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: '[]' })
    expect(json.status).toBe(415)
    const ok = await fetch(`${url}/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ status: { phase: 'Active', spec: 'ignored' } }) })
    expect(ok.status).toBe(200)
    const after = api.get(PATHS.routes, 'apps', 'r')!
    expect(after.status).toEqual({ phase: 'Active', spec: 'ignored' })
    expect(after.metadata.generation).toBe(r.metadata.generation)
    expect(after.spec).toEqual({ defaultBackend: { name: 'a' } })
    const stale = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...r, spec: { defaultBackend: { name: 'z' } } }) })
    expect(stale.status).toBe(409)
  })
})
