// The README's examples as a reader finds them: fenced blocks under their heading, run as written.
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

export const root = new URL('../../', import.meta.url).pathname
const run = promisify(execFile)

export interface Block {
  lang: string
  body: string
  /** The nearest heading above the block. */
  heading: string
}

export function readmeBlocks(file = join(root, 'README.md')): Block[] {
  const blocks: Block[] = []
  let heading = ''
  const text = readFileSync(file, 'utf8')
  const fence = /^(#{1,6}) (.+)$|^```(\w*)\n([\s\S]*?)^```$/gm
  for (const m of text.matchAll(fence)) {
    if (m[1]) heading = m[2]!
    else blocks.push({ lang: m[3]!, body: m[4]!, heading })
  }
  return blocks
}

/** The blocks of one section, by its heading. */
export const blocksUnder = (heading: string, lang?: string, file?: string) => readmeBlocks(file).filter((b) => b.heading === heading && (!lang || b.lang === lang))

/** The README shows the default address; a test's gateway listens on a free port. */
export const onPort = (text: string, url: string) => text.replaceAll('http://127.0.0.1:8080', url).replaceAll('localhost:8080', new URL(url).host)

/** A shell example's commands, continuation lines joined, without its `# output` lines. */
export const commands = (body: string) =>
  body
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))

/** The output an example shows (its `# ` lines), as a pattern: `...` stands for the rest of a message. */
export function shownOutput(body: string): RegExp {
  const shown = body
    .split('\n')
    .filter((l) => l.startsWith('# '))
    .map((l) => l.slice(2))
    .join('\n')
  return new RegExp(`^${shown.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}\n?$`)
}

/** Runs a shell example's commands (sh -c) and returns what they print (stdout, or both streams with `all`). */
export async function sh(lines: string[], env: Record<string, string> = {}, cwd = root, opts: { all?: boolean } = {}): Promise<string> {
  const script = opts.all ? `{ ${lines.join('\n')}\n} 2>&1` : lines.join('\n')
  const { stdout } = await run('sh', ['-c', script], { cwd, env: { ...process.env, ...env }, timeout: 15_000 }).catch((err) => {
    if (opts.all && typeof err.stdout === 'string') return err as { stdout: string } // an example that shows a failure exits non-zero
    throw err
  })
  return stdout
}

/**
 * The OpenAI SDK example pasted into a new folder's app.js, as the README says: no
 * package.json, `openai` resolvable from node_modules (a link to an installed one),
 * `node app.js`. Only the port is changed. Returns what it prints.
 */
export async function runSnippet(snippet: string, dir: string, nodeModules: string, url: string): Promise<string> {
  mkdirSync(dir, { recursive: true })
  symlinkSync(nodeModules, join(dir, 'node_modules'))
  writeFileSync(join(dir, 'app.js'), onPort(snippet, url))
  // Node 20.19 and later guess ES modules from their syntax; earlier Node 20 releases do
  // not, and refuse `import` in app.js. The flag runs it as they do.
  const { stdout } = await run(process.execPath, ['--no-experimental-detect-module', 'app.js'], { cwd: dir, timeout: 15_000 })
  return stdout
}
