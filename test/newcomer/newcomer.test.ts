// A newcomer's first minutes: a fresh clone of this repository (its committed HEAD),
// the README's Quick start commands exactly as written, then the README's OpenAI SDK
// example pasted into a new folder's app.js, chatting with the gateway they started.
//
// `npm install` is the real one, in the clone, with npm's settings for CI from the
// environment (prefer the local cache, no audit or funding requests): about 9 s with a
// warm cache on the 2-core development machine, 572 MB of node_modules.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { blocksUnder, commands, root, runSnippet } from '../helpers/readme.ts'
import { serve, stopAll } from '../helpers/serve.ts'

const work = mkdtempSync(join(tmpdir(), 'kortex-newcomer-'))
const clone = join(work, 'kortex')
const readme = join(clone, 'README.md')
const children: ChildProcess[] = []
afterAll(() => {
  stopAll(children)
  // The clone holds ~570 MB of node_modules: removing it can take minutes on a loaded machine, so a
  // detached `rm` does it after the run instead of holding the hook past its timeout.
  spawn('rm', ['-rf', work], { detached: true, stdio: 'ignore' }).unref()
})

const npmEnv = { npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_loglevel: 'error' }

it("a fresh clone, the README's two commands, and a chat through the OpenAI SDK", async () => {
  execFileSync('git', ['clone', '--quiet', root, clone], { stdio: 'ignore' })
  expect(existsSync(join(clone, 'node_modules'))).toBe(false)

  // The Quick start's commands in order; the last one is the server, left running.
  const steps = commands(blocksUnder('Quick start', 'sh', readme)[0]!.body)
  expect(steps).toEqual(['npm install', 'npm start'])
  for (const step of steps.slice(0, -1)) execFileSync('sh', ['-c', step], { cwd: clone, env: { ...process.env, ...npmEnv }, stdio: 'ignore', timeout: 150_000 })
  const gw = await serve('sh', ['-c', steps.at(-1)!], npmEnv, { cwd: clone, children })
  expect(gw.output()).toContain('Config: the embedded demo config')

  // The SDK example from the clone's README (what the newcomer reads), `openai` from the clone's install.
  const snippet = blocksUnder('Quick start', 'js', readme)[0]!.body
  const out = await runSnippet(snippet, join(work, 'my-app'), join(clone, 'node_modules'), gw.url)
  expect(out).toBe('[kortex demo backend] You said: Hello, Kortex\n[kortex demo backend] You said: Stream this\n')
}, 200_000)
