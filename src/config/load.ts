// Turns config text (multi-document YAML, or JSON) into validated documents.
// A bad config is refused whole: every problem is reported with the document
// it is in, its path and its line, so one run of the loader shows them all.
import { LineCounter, isNode, parseAllDocuments, type Document } from 'yaml'
import { document, type ConfigDocument } from './schema.ts'
import { formatPath } from '../api/schemas.ts'

export interface ConfigProblem {
  /** 1-based document index in the file. */
  doc: number
  /** e.g. "InferenceRoute production-route". */
  resource?: string
  /** Path inside the document, e.g. "spec.fallback.backends[0]". */
  path: string
  line?: number
  message: string
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[], readonly source = 'config') {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map(formatProblem).join('\n')}`)
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = [`document ${p.doc}`, p.resource, p.line ? `line ${p.line}` : undefined].filter(Boolean).join(', ')
  return `  - ${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`
}

export interface LoadedDocument {
  /** 1-based position in the file, for error messages. */
  index: number
  resource: ConfigDocument
}

export function parseConfigText(text: string, source = 'config'): LoadedDocument[] {
  const lines = new LineCounter()
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true })
  if (!Array.isArray(docs)) throw new ConfigError([{ doc: 1, path: '', message: 'not a YAML document stream' }], source)
  const problems: ConfigProblem[] = []
  const out: LoadedDocument[] = []
  docs.forEach((d, i) => {
    const n = i + 1
    for (const e of d.errors) {
      problems.push({ doc: n, path: '', line: e.linePos?.[0]?.line, message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:$/, '') })
    }
    if (d.errors.length) return
    const value: unknown = d.toJS()
    if (value == null) return // an empty document (e.g. a trailing ---)
    const r = document.safeParse(value, { reportInput: true })
    if (r.success) {
      out.push({ index: n, resource: r.data })
      return
    }
    const resource = describeResource(value)
    for (const issue of r.error.issues) {
      // Point an unknown field at the field itself.
      const path = issue.code === 'unrecognized_keys' && issue.keys.length === 1 ? [...issue.path, issue.keys[0]!] : issue.path
      problems.push({ doc: n, resource, path: formatPath(path), line: lineOf(d, path, lines), message: issueMessage(issue) })
    }
  })
  if (problems.length) throw new ConfigError(problems, source)
  return out
}

function describeResource(v: unknown): string | undefined {
  if (!v || typeof v !== 'object') return undefined
  const o = v as { kind?: unknown; metadata?: { name?: unknown } }
  const kind = typeof o.kind === 'string' ? o.kind : 'resource'
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : undefined
  return name ? `${kind} ${name}` : kind
}

function issueMessage(issue: { code: string; message: string; input?: unknown; keys?: string[]; options?: unknown[] }): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required'
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys!.length > 1 ? 's' : ''} ${issue.keys!.map((k) => `"${k}"`).join(', ')}`
  if (issue.code === 'invalid_union' && 'discriminator' in issue) {
    return 'kind must be one of InferenceBackend, InferenceRoute, InferenceExperiment, GatewayConfig'
  }
  return issue.message
}

/** The line of the deepest node on `path` that exists in the YAML. */
function lineOf(d: Document.Parsed, path: readonly PropertyKey[], lines: LineCounter): number | undefined {
  for (let len = path.length; len >= 0; len--) {
    const node = d.getIn(path.slice(0, len) as unknown[], true)
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line
  }
  return undefined
}
