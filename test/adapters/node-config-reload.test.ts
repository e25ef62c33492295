import { writeFileSync, renameSync } from 'node:fs'
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
