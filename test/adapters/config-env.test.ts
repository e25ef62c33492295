// The config named by the environment means the same on Node, Deno and
// Workers: KORTEX_CONFIG_FILE is a path, KORTEX_CONFIG_YAML the config's text.
// KORTEX_CONFIG, the older name, takes either everywhere, and a value of the
// wrong kind is refused with a message that names the variable to use.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { echoConfig } from '../helpers/configs.ts'
import { startDeno } from '../conformance/runtimes.ts'
import { buildWorker, workerOptions, type BuiltWorker } from './cloudflare-harness.ts'

const bin = new URL('../../bin/kortex.js', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'kortex-config-env-'))
const file = join(dir, 'kortex.yaml')
writeFileSync(file, echoConfig('from-env'))

/** The Node command's output until it listens (then it is stopped) or exits. */
function node(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [bin], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve) => {
    const on = (d: Buffer) => {
      out += d
      if (/Try it:[\s\S]*-d '/.test(out)) child.kill()
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
    child.on('exit', (code) => resolve({ code, out }))
  })
}

const models = async (url: string) => ((await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)

describe('Node', () => {
  it('KORTEX_CONFIG_FILE serves a file and KORTEX_CONFIG still does; KORTEX_CONFIG_YAML serves the text itself', async () => {
    expect((await node({ KORTEX_CONFIG_FILE: file })).out).toContain(`Config: ${file}`)
    expect((await node({ KORTEX_CONFIG: file })).out).toContain(`Config: ${file}`)
    const inline = await node({ KORTEX_CONFIG_YAML: echoConfig('inline-model') })
    expect(inline.out).toContain('Config: KORTEX_CONFIG_YAML')
    expect(inline.out).toContain('"model":"inline-model"')
  })

  it("KORTEX_CONFIG holding a config's text serves it, as on Deno and Workers", async () => {
    const r = await node({ KORTEX_CONFIG: echoConfig('legacy-inline') })
    expect(r.out).toContain('Config: KORTEX_CONFIG')
    expect(r.out).toContain('"model":"legacy-inline"')
  })

  it('a config text in KORTEX_CONFIG_FILE exits 1 naming KORTEX_CONFIG_YAML', async () => {
    const r = await node({ KORTEX_CONFIG_FILE: echoConfig('x') })
    expect(r.code).toBe(1)
    expect(r.out).toContain("KORTEX_CONFIG_FILE holds a config's text, not a path; put the text in KORTEX_CONFIG_YAML")
  })
})

describe('Deno', () => {
  it('KORTEX_CONFIG_FILE and KORTEX_CONFIG read a path, as on Node; KORTEX_CONFIG_YAML is the text', async () => {
    const a = await startDeno({ KORTEX_CONFIG_FILE: file })
    const b = await startDeno({ KORTEX_CONFIG_YAML: echoConfig('deno-inline') })
    const c = await startDeno({ KORTEX_CONFIG: file })
    try {
      expect(await models(a.url)).toEqual(['from-env'])
      expect(await models(b.url)).toEqual(['deno-inline'])
      expect(await models(c.url)).toEqual(['from-env'])
    } finally {
      await Promise.all([a.close(), b.close(), c.close()])
    }
  })
})

describe('Workers', () => {
  let worker: BuiltWorker
  let mf: Miniflare
  beforeAll(async () => {
    worker = await buildWorker()
    mf = new Miniflare({
      workers: [
        workerOptions(worker, 'path', { KORTEX_CONFIG: 'kortex.yaml' }, { state: false }),
        workerOptions(worker, 'file', { KORTEX_CONFIG_FILE: 'kortex.yaml' }, { state: false }),
        workerOptions(worker, 'inline', { KORTEX_CONFIG_YAML: echoConfig('worker-inline') }, { state: false }),
      ],
    })
  })
  afterAll(async () => {
    await mf?.dispose()
    await worker?.remove()
  })
  const get = (name: string, path: string) => mf.dispatchFetch(`http://${name}.kortex.test${path}`)

  it('a path in KORTEX_CONFIG or KORTEX_CONFIG_FILE: every request is a 503 saying to put the text in KORTEX_CONFIG_YAML', async () => {
    for (const name of ['path', 'file']) {
      const res = await get(name, '/v1/models')
      expect(res.status).toBe(503)
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('config_invalid')
      expect(body.error.message).toContain("put the config's text in KORTEX_CONFIG_YAML")
      expect(body.error.message).not.toContain('kortex.yaml') // a misplaced value is never echoed
    }
  })

  it('KORTEX_CONFIG_YAML is the config', async () => {
    const res = await get('inline', '/v1/models')
    expect(res.status).toBe(200)
    expect(((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)).toEqual(['worker-inline'])
  })
})
