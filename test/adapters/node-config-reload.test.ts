import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startKortex } from '../../adapters/node/start.ts'
import { open } from 'node:fs/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestKortex, eventually, type TestKortex } from '../helpers/kortex.ts'
import { echoConfig } from '../helpers/configs.ts'

const config = (model: string) => echoConfig(model)

let k: TestKortex
beforeAll(async () => {
  k = await startTestKortex(config('first'))
})
afterAll(() => k?.close())

const models = async () => ((await (await fetch(`${k.url}/v1/models`)).json()).data as { id: string }[]).map((m) => m.id)

it('an edited file is served after it is saved', async () => {
  expect(await models()).toEqual(['first'])
  writeFileSync(k.configFile, config('second'))
  await eventually(async () => (await models()).includes('second'))
  expect(await models()).toEqual(['second'])
})

it('a file replaced by rename (how many editors save) is picked up too', async () => {
  writeFileSync(`${k.configFile}.tmp`, config('third'))
  renameSync(`${k.configFile}.tmp`, k.configFile)
  await eventually(async () => (await models()).includes('third'))
})

it('a broken file is refused with every problem and its path; the running config stays', async () => {
  const before = k.notices.length
  writeFileSync(k.configFile, config('fourth').replace('type: demo', 'type: nonsense').replace('defaultBackend: { name: echo }', 'defaultBackend: { name: echo, weight: 500 }'))
  await eventually(() => k.notices.slice(before).some((n) => n.includes('refused')))
  const notice = k.notices.slice(before).find((n) => n.includes('refused'))!
  expect(notice).toContain('the running config stays')
  expect(notice).toMatch(/document 2, InferenceBackend echo, line 9: spec\.type/)
  expect(notice).toMatch(/document 3, InferenceRoute r, line 16: spec\.defaultBackend\.weight/)
  expect(await models()).toEqual(['third'])
  const res = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'third', messages: [{ role: 'user', content: 'still here' }] }) })
  expect(res.status).toBe(200)
})

// What a client of the gateway sees while the file is rewritten: the models it is
// served, sampled until the new model shows up.
async function modelsWhile(write: () => Promise<void>, until: string): Promise<string[][]> {
  const seen: string[][] = []
  let done = false
  const writing = write().finally(() => (done = true))
  while (!done || !seen.at(-1)?.includes(until)) {
    seen.push(await models())
    if (done && seen.length > 500) break
    await new Promise((r) => setTimeout(r, 10))
  }
  await writing
  return seen
}

it('an emptied file is refused with a message; the running config stays and keeps serving', async () => {
  const before = k.notices.length
  writeFileSync(k.configFile, '')
  await eventually(() => k.notices.slice(before).some((n) => n.includes('refused')))
  expect(k.notices.slice(before).join('\n')).toMatch(/no resources|drop every InferenceRoute/)
  expect(k.notices.slice(before).join('\n')).not.toMatch(/reloaded/)
  expect(await models()).toEqual(['third'])
  const res = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'third', messages: [{ role: 'user', content: 'still here' }] }) })
  expect(res.status).toBe(200)
})

it('a file caught halfway through being written (`cat good > k.yaml`) is never applied', async () => {
  const full = config('fifth')
  const cut = full.lastIndexOf('---') // the gateway settings and the backend, but no route yet
  const before = k.notices.length
  const seen = await modelsWhile(async () => {
    const f = await open(k.configFile, 'w') // truncates, as `>` does
    await f.write(full.slice(0, cut))
    await f.sync()
    await new Promise((r) => setTimeout(r, 400)) // a slow writer: the half file sits there
    await f.write(full.slice(cut))
    await f.close()
  }, 'fifth')
  expect(seen.filter((m) => m.length === 0)).toEqual([]) // never a moment with nothing served
  expect(seen.at(-1)).toEqual(['fifth'])
  expect(k.notices.slice(before).some((n) => n.includes('refused') && n.includes('drop every InferenceRoute'))).toBe(true)
})

it('a file is applied only once two reads agree: a writer that pauses mid-file is waited for', async () => {
  const full = config('sixth') + `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r2 }
spec:
  models: [seventh]
  defaultBackend: { name: echo }
`
  const cut = full.lastIndexOf('---')
  const before = k.notices.length
  await modelsWhile(async () => {
    const f = await open(k.configFile, 'w')
    await f.write(full.slice(0, cut)) // a whole, valid config on its own: one route of the two
    await f.sync()
    await new Promise((r) => setTimeout(r, 80)) // past the watcher's 50 ms debounce
    await f.write(full.slice(cut))
    await f.close()
  }, 'seventh')
  const reloads = k.notices.slice(before).filter((n) => n.includes('reloaded'))
  expect(reloads).toEqual([expect.stringContaining('2 routes')])
})

it('dropping every route is applied when the file says it is meant', async () => {
  const before = k.notices.length
  writeFileSync(k.configFile, config('x').split('---')[0]!.replace('metadata: { name: g }', 'metadata: { name: g, annotations: { kortex.io/allow-empty: "true" } }'))
  await eventually(() => k.notices.slice(before).some((n) => n.includes('reloaded')))
  expect(k.notices.slice(before).find((n) => n.includes('reloaded'))).toContain('0 routes, 0 backends')
  expect(await models()).toEqual([])
})

it('an empty config file is refused at start, not served as a gateway that answers nothing', async () => {
  await expect(startTestKortex('')).rejects.toThrow(/no resources/)
})

it('a config mounted from a Kubernetes ConfigMap is reloaded when the volume swaps its data (the file itself is a link that never changes)', async () => {
  // The layout the kubelet writes: kortex.yaml -> ..data/kortex.yaml, ..data -> ..<timestamp>/; an update writes a new
  // timestamped folder and renames a new ..data link over the old one.
  const dir = mkdtempSync(join(tmpdir(), 'kortex-cm-'))
  const version = (n: number, model: string) => {
    mkdirSync(join(dir, `..v${n}`))
    writeFileSync(join(dir, `..v${n}`, 'kortex.yaml'), config(model))
    symlinkSync(`..v${n}`, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  version(1, 'from-configmap')
  symlinkSync(join('..data', 'kortex.yaml'), join(dir, 'kortex.yaml'))
  const cm = await startKortex({ configPath: join(dir, 'kortex.yaml'), port: 0, notice: () => {}, log: { record() {}, warn() {}, error() {} } })
  try {
    const ids = async () => ((await (await fetch(`${cm.url}/v1/models`)).json()).data as { id: string }[]).map((m) => m.id)
    expect(await ids()).toEqual(['from-configmap'])
    version(2, 'updated-configmap')
    await eventually(async () => (await ids()).includes('updated-configmap'))
  } finally {
    await cm.close()
  }
})
