// The README's examples, run as a reader runs them against a gateway started as it says.
// (Its YAML blocks are loaded by test/config/config.test.ts; the clone-and-start check
// by test/newcomer/.)
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { blocksUnder, commands, onPort, readmeBlocks, root, runSnippet, sh, shownOutput } from '../helpers/readme.ts'
import { serve, stopAll } from '../helpers/serve.ts'

const children: ChildProcess[] = []
const work = mkdtempSync(join(tmpdir(), 'kortex-readme-'))
afterAll(() => {
  stopAll(children)
  rmSync(work, { recursive: true, force: true })
})

const gateway = (args: string[] = [], env: Record<string, string> = {}) => serve(process.execPath, [join(root, 'bin/kortex.js'), ...args], env, { cwd: work, children })

describe('Quick start', () => {
  it('is the two commands, then an SDK example that runs pasted into app.js (CommonJS, Node 20)', async () => {
    expect(commands(blocksUnder('Quick start', 'sh')[0]!.body)).toEqual(['npm install', 'npm start'])
    const [snippet] = blocksUnder('Quick start', 'js')
    expect(snippet!.body).toContain("baseURL: 'http://127.0.0.1:8080/v1'")
    const gw = await gateway()
    const out = await runSnippet(snippet!.body, join(work, 'sdk'), join(root, 'node_modules'), gw.url)
    expect(out).toBe('[kortex demo backend] You said: Hello, Kortex\n[kortex demo backend] You said: Stream this\n')
  })

  it('the curl line answers with the echo', async () => {
    const gw = await gateway()
    const curl = blocksUnder('Quick start', 'sh')[1]!.body
    const answer = JSON.parse(await sh(commands(onPort(curl, gw.url))))
    expect(answer.choices[0].message.content).toBe('[kortex demo backend] You said: Hello, Kortex')
  })
})

describe('The Responses and Messages APIs', () => {
  const heading = 'The Responses and Messages APIs'

  it('each curl prints what the README shows', async () => {
    const gw = await gateway()
    const blocks = blocksUnder(heading, 'sh')
    expect(blocks).toHaveLength(2)
    for (const b of blocks) expect(await sh(commands(onPort(b.body, gw.url)))).toMatch(shownOutput(b.body))
  })

  it('the Anthropic SDK and the Responses API examples run pasted into app.js', async () => {
    const gw = await gateway()
    const [anthropic, responses] = blocksUnder(heading, 'js')
    expect(await runSnippet(anthropic!.body, join(work, 'anthropic'), join(root, 'node_modules'), gw.url)).toBe(
      '[kortex demo backend] You said: Hello, Kortex\n[kortex demo backend] You said: Stream this\n',
    )
    expect(await runSnippet(responses!.body, join(work, 'responses'), join(root, 'node_modules'), gw.url)).toBe(
      '[kortex demo backend] You said: Hello, Kortex\n[kortex demo backend] You said: And again\ncompleted\n',
    )
  })
})

describe('Operations', () => {
  it('readiness: the curl prints what the README shows', async () => {
    const gw = await gateway()
    const [block] = blocksUnder('Health and readiness', 'sh')
    expect(await sh(commands(onPort(block!.body, gw.url)))).toMatch(shownOutput(block!.body))
  })

  it('metrics: npm start, a chat, then the counter the README shows', async () => {
    const [block] = blocksUnder('Metrics', 'sh')
    const [start, ...rest] = commands(block!.body)
    expect(start).toBe('npm start &')
    const gw = await serve('npm', ['start'], { npm_config_loglevel: 'error' }, { cwd: root, children })
    expect(await sh(rest.map((l) => onPort(l, gw.url)))).toMatch(shownOutput(block!.body))
  })
})

describe('Routes and rules', () => {
  it("X-Route naming a route that does not serve the model: the 403 the README shows, with the Configuration section's config", async () => {
    const config = readmeBlocks().find((b) => b.lang === 'yaml' && b.body.includes('name: production-route'))!
    writeFileSync(join(work, 'kortex.yaml'), config.body)
    const secrets = { OPENAI_CREDENTIALS_API_KEY: 'test-x', ANTHROPIC_CREDENTIALS_API_KEY: 'test-y', ML_TEAM_KEY: 'kx-ml-team-key' }
    const gw = await gateway(['--config', join(work, 'kortex.yaml')], secrets)
    const block = blocksUnder('Routes and rules', 'sh').find((b) => b.body.includes('X-Route'))!
    expect(await sh(commands(onPort(block.body, gw.url)), secrets)).toMatch(shownOutput(block.body))
  })
})

describe('Budgets', () => {
  it('a budget smaller than one request: validate prints what the README shows', async () => {
    const config = readmeBlocks().find((b) => b.lang === 'yaml' && b.body.includes('name: production-route'))!.body
    const withBudget = config.replace('spec:\n  auth:\n', 'spec:\n  budgets: [{ scope: team, name: web, amount: "0.01", period: day }]\n  auth:\n')
    expect(withBudget).not.toBe(config)
    const dir = join(work, 'budget')
    mkdirSync(dir)
    writeFileSync(join(dir, 'kortex.yaml'), withBudget)
    const block = blocksUnder('Budgets', 'sh')[0]!
    // `npx kortex-gateway` is this repository's bin (test/ship runs it from the packed tarball).
    const lines = commands(block.body).map((l) => l.replace(/^npx kortex-gateway /, `node ${join(root, 'bin/kortex.js')} `))
    expect(await sh(lines, { ML_TEAM_KEY: 'kx-ml-team-key' }, dir, { all: true })).toMatch(shownOutput(block.body))
  })
})

describe('A/B experiments', () => {
  it('the try-out config: a sticky variant, feedback recorded, and the report the README shows (needs jq)', async () => {
    const config = blocksUnder('A/B experiments', 'yaml')[0]!.body
    const dir = join(work, 'experiment')
    mkdirSync(dir)
    writeFileSync(join(dir, 'kortex.yaml'), config)
    const gw = await gateway(['--config', join(dir, 'kortex.yaml')])
    const block = blocksUnder('A/B experiments', 'sh')[0]!
    expect(await sh(commands(onPort(block.body, gw.url)))).toMatch(shownOutput(block.body))
  })
})
