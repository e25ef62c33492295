// `kortex validate PATH...`: checks config files and Kortex manifests as the
// gateway loads them, and starts nothing. A file is one config, as `kortex
// --config FILE` loads it; a directory is one config made of its YAML files,
// as `kubectl apply -f DIR` leaves them in a cluster (a route in one file may
// name a backend in another). The CRDs are generated from the schema the
// gateway checks, so what passes here passes the API server's validation too;
// other kinds in a manifest (a Secret, a Namespace) are kubectl's business and
// are skipped. Problems and warnings read as a reload prints them. Exit code
// 0, or 1 on any problem.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { compileConfig } from '../../src/config/compile.ts'
import { ConfigError, parseConfigText, type ConfigProblem, type LoadedDocument } from '../../src/config/load.ts'
import { API_GROUPS } from '../../src/config/schema.ts'

type Json = Record<string, any>
type Print = (line: string) => void
const usage = `Usage: kortex validate PATH...

  Checks each config file, or each directory of Kortex manifests (its YAML files
  together), as the gateway would load it; starts nothing. Exit code 1 on a problem.`

export async function validate(paths: string[], out: Print = console.log, err: Print = console.error): Promise<number> {
  if (paths.includes('--help') || paths.includes('-h')) return out(usage), 0
  if (!paths.length || paths.some((f) => f.startsWith('-'))) return err(usage), 2
  let failed = false
  for (const path of paths) if (!(await validateOne(path, out, err))) failed = true
  return failed ? 1 : 0
}

async function validateOne(path: string, out: Print, err: Print): Promise<boolean> {
  let files
  try {
    files = (await stat(path)).isDirectory() ? (await readdir(path)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(path, f)) : [path]
  } catch (e) {
    err(`kortex: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'config file not found' : (e as Error).message}: ${path}`)
    return false
  }
  let ok = true
  const all: Array<{ file: string; doc: LoadedDocument }> = []
  for (const file of files) {
    const { kortex, skipped } = onlyKortex(await readFile(file, 'utf8'))
    try {
      const docs = parseConfigText(kortex, file)
      for (const doc of docs) all.push({ file, doc })
      if (skipped) out(`kortex: ${file}: ${skipped} resource${skipped === 1 ? '' : 's'} of other kinds not checked`)
    } catch (e) {
      err(e instanceof ConfigError ? e.message : `${file}: ${(e as Error).message}`)
      ok = false
    }
  }
  if (!ok) return false
  if (!all.length) return out(`kortex: ${path}: no Kortex resources in it`), true
  // Numbered across the files for the compiler; each problem is then told against its own file.
  const docs = all.map(({ doc }, i) => ({ ...doc, index: i + 1 }))
  try {
    const c = await compileConfig(docs, (n) => process.env[n], path)
    for (const w of c.warnings) err(`kortex: warning: ${w}`)
    for (const n of c.notes ?? []) out(`kortex: note: ${n}`)
    out(`kortex: ${path}: valid: ${c.routes.length} routes, ${c.backends.size} backends`)
    return true
  } catch (e) {
    if (!(e instanceof ConfigError)) err(`${path}: ${String(e)}`)
    else for (const [source, problems] of byFile(e.problems, all, path)) err(new ConfigError(problems, source).message)
    return false
  }
}

/** The text with every document of another kind blanked, so document numbers and lines stay as written. */
function onlyKortex(text: string): { kortex: string; skipped: number } {
  let kortex = text
  let skipped = 0
  for (const d of parseAllDocuments(text) as any[]) {
    const o = d.errors?.length ? undefined : (d.toJS() as Json | null)
    if (!o || typeof o !== 'object' || isKortex(o) || typeof o.kind !== 'string' || typeof o.apiVersion !== 'string') continue
    const [start, , end] = d.contents.range as [number, number, number]
    kortex = kortex.slice(0, start) + kortex.slice(start, end).replace(/[^\n]/g, ' ') + kortex.slice(end)
    skipped++
  }
  return { kortex, skipped }
}

/** Any resource in a Kortex API group is checked; a wrong kind there is a problem, not another kind. */
const isKortex = (o: Json) => typeof o.apiVersion === 'string' && (API_GROUPS as readonly string[]).includes(o.apiVersion.split('/')[0] ?? '')

function byFile(problems: ConfigProblem[], all: Array<{ file: string; doc: LoadedDocument }>, path: string): Map<string, ConfigProblem[]> {
  const out = new Map<string, ConfigProblem[]>()
  for (const p of problems) {
    const at = all[p.doc - 1]
    const source = at?.file ?? path
    out.set(source, [...(out.get(source) ?? []), { ...p, doc: at?.doc.index ?? p.doc }])
  }
  return out
}
