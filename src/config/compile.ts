// Compiles validated documents into the form the hot path reads: maps by
// name, resolved URLs and secrets, hashed keys. Cross-references (a route
// naming a backend that does not exist) are config errors like any other.
import type { LoadedDocument, ConfigProblem } from './load.ts'
import { ConfigError } from './load.ts'
import type { BackendSpec, ExperimentSpec, GatewaySpec, RouteSpec } from './schema.ts'
import { gatewaySpec } from './schema.ts'
import { sha256Hex } from '../auth/hash.ts'

export type ProviderName = 'openai' | 'azure-openai' | 'anthropic' | 'kserve' | 'demo'

export interface Backend {
  name: string
  namespace: string
  provider: ProviderName
  /** Where the provider's API lives; for OpenAI-style ones the base of `/chat/completions`. */
  baseUrl: string
  /** The service root (KServe: where `/v1/models/...` and `/v2/...` live). */
  rootUrl: string
  /** Model name sent upstream; the client's when absent. */
  model?: string
  apiKey?: string
  /** Set when apiKeySecret names a secret that is not there. */
  missingSecret?: string
  headers: Record<string, string>
  timeoutMs: number
  maxConcurrency: number
  priority: number
  contextWindow?: number
  spec: BackendSpec
}

export interface WeightedRef {
  name: string
  weight: number
}

export interface Route {
  name: string
  namespace: string
  models?: string[]
  /** Serves any model: no `models` and no rule with a modelPattern. */
  catchAll: boolean
  rules: Array<{ match?: NonNullable<RouteSpec['rules'][number]['match']>; backends: WeightedRef[] }>
  defaultBackend?: WeightedRef
  /** Backends to try, in order, after the chosen one fails. */
  fallback: string[]
  /** Per-attempt timeout from `fallback.timeoutSeconds`; the backend's own applies otherwise. */
  attemptTimeoutMs?: number
  spec: RouteSpec
}

export interface Principal {
  name: string
  team?: string
  tier?: string
  /** Allowed model names or globs; undefined: all. */
  models?: string[]
  admin: boolean
}

export interface CompiledConfig {
  backends: Map<string, Backend>
  routes: Route[]
  experiments: Array<{ name: string; namespace: string; spec: ExperimentSpec }>
  gateway: GatewaySpec
  /** sha256(key) in hex -> principal. */
  keys: Map<string, Principal>
  /** Model ids for GET /v1/models, with the route serving each. */
  models: Array<{ id: string; route: string }>
  warnings: string[]
}

/** Looks up a secret outside the cluster: environment variables or Worker bindings. */
export type SecretLookup = (envName: string) => string | undefined

/** The naming rule: apiKeySecret {name: openai-credentials, key: api-key} -> OPENAI_CREDENTIALS_API_KEY. */
export function secretEnvName(ref: { name: string; key: string }): string {
  return `${ref.name}_${ref.key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

export async function compileConfig(docs: LoadedDocument[], secrets: SecretLookup, source = 'config'): Promise<CompiledConfig> {
  const problems: ConfigProblem[] = []
  const warnings: string[] = []
  const backends = new Map<string, Backend>()
  const routes: Route[] = []
  const experiments: CompiledConfig['experiments'] = []
  let gateway: GatewaySpec | undefined
  const seen = new Set<string>()

  for (const { index, resource: r } of docs) {
    const ns = r.metadata.namespace ?? 'default'
    const id = `${r.kind} ${ns}/${r.metadata.name}`
    if (seen.has(id)) problems.push({ doc: index, resource: `${r.kind} ${r.metadata.name}`, path: 'metadata.name', message: 'defined twice' })
    seen.add(id)
    if (r.kind === 'InferenceBackend') backends.set(`${ns}/${r.metadata.name}`, compileBackend(r.metadata.name, ns, r.spec, secrets, warnings))
    else if (r.kind === 'InferenceRoute') routes.push(compileRoute(r.metadata.name, ns, r.spec))
    else if (r.kind === 'InferenceExperiment') experiments.push({ name: r.metadata.name, namespace: ns, spec: r.spec })
    else if (gateway) problems.push({ doc: index, resource: `GatewayConfig ${r.metadata.name}`, path: '', message: 'only one GatewayConfig is allowed' })
    else gateway = r.spec
  }

  // Every name a route or experiment uses must be a backend.
  const docOf = new Map(docs.map((d) => [`${d.resource.kind} ${d.resource.metadata.namespace ?? 'default'}/${d.resource.metadata.name}`, d.index]))
  const check = (kind: string, owner: { name: string; namespace: string }, path: string, ref: string) => {
    if (!backends.has(`${owner.namespace}/${ref}`)) {
      problems.push({
        doc: docOf.get(`${kind} ${owner.namespace}/${owner.name}`) ?? 0,
        resource: `${kind} ${owner.name}`,
        path,
        message: `backend "${ref}" is not defined (no InferenceBackend named "${ref}" in namespace ${owner.namespace})`,
      })
    }
  }
  for (const route of routes) {
    if (route.defaultBackend) check('InferenceRoute', route, 'spec.defaultBackend.name', route.defaultBackend.name)
    route.rules.forEach((rule, i) => rule.backends.forEach((b, j) => check('InferenceRoute', route, `spec.rules[${i}].backends[${j}].name`, b.name)))
    route.spec.fallback?.backends.forEach((b, i) => check('InferenceRoute', route, `spec.fallback.backends[${i}]`, b))
    route.spec.failover?.chain.forEach((b, i) => check('InferenceRoute', route, `spec.failover.chain[${i}]`, b))
    route.spec.experiments.forEach((e, i) => {
      check('InferenceRoute', route, `spec.experiments[${i}].control`, e.control)
      check('InferenceRoute', route, `spec.experiments[${i}].treatment`, e.treatment)
    })
  }
  for (const exp of experiments) exp.spec.variants.forEach((v, i) => check('InferenceExperiment', exp, `spec.variants[${i}].backend`, v.backend))
  if (problems.length) throw new ConfigError(problems, source)

  const settings = gateway ?? gatewaySpec.parse({})
  const keys = new Map<string, Principal>()
  for (const k of settings.auth.keys) {
    let hash = k.keySha256?.toLowerCase()
    const plain = k.key ?? (k.keyEnv ? secrets(k.keyEnv) : undefined)
    if (k.keyEnv && !plain) warnings.push(`API key "${k.name}": environment variable ${k.keyEnv} is not set; the key is disabled`)
    if (plain) hash = await sha256Hex(plain)
    if (hash) keys.set(hash, { name: k.name, team: k.team, tier: k.tier, models: k.models, admin: k.admin })
  }
  if (!settings.auth.open && keys.size === 0) warnings.push('auth is closed and no API keys are defined: every request will get 401')

  return { backends, routes, experiments, gateway: settings, keys, models: listModels(routes, backends), warnings }
}

function compileBackend(name: string, namespace: string, spec: BackendSpec, secrets: SecretLookup, warnings: string[]): Backend {
  const common = {
    name,
    namespace,
    headers: {} as Record<string, string>,
    timeoutMs: spec.timeoutSeconds * 1000,
    maxConcurrency: spec.maxConcurrency,
    priority: spec.priority,
    contextWindow: spec.contextWindow,
    spec,
  }
  switch (spec.type) {
    case 'external': {
      const ext = spec.external!
      const provider: ProviderName = ext.provider === 'anthropic' ? 'anthropic' : ext.provider === 'azure-openai' ? 'azure-openai' : 'openai'
      const root = trimSlash(ext.url)
      let apiKey: string | undefined
      let missingSecret: string | undefined
      if (ext.apiKeySecret) {
        const env = secretEnvName(ext.apiKeySecret)
        apiKey = secrets(env)
        if (!apiKey) {
          missingSecret = env
          warnings.push(`backend "${name}": secret ${ext.apiKeySecret.name}/${ext.apiKeySecret.key} not found (set ${env}); requests to it will fail with 503`)
        }
      }
      return { ...common, provider, baseUrl: openAIBase(root, provider), rootUrl: root, model: ext.model, apiKey, missingSecret, headers: { ...ext.headers } }
    }
    case 'kserve': {
      const ks = spec.kserve!
      const ns = ks.namespace ?? namespace
      // `<isvc>-predictor` answers in both raw and serverless (Knative) mode; a transformer needs `url`.
      const root = trimSlash(ks.url ?? `http://${ks.serviceName}-predictor.${ns}.svc.cluster.local`)
      return { ...common, provider: 'kserve', baseUrl: `${root}${trimSlash(ks.pathPrefix)}/v1`, rootUrl: root, model: ks.model ?? ks.serviceName }
    }
    case 'kubernetes': {
      const k = spec.kubernetes!
      const root = `http://${k.serviceName}.${k.namespace ?? namespace}.svc.cluster.local:${k.port}`
      return { ...common, provider: 'openai', baseUrl: `${root}${trimSlash(k.pathPrefix)}`, rootUrl: root, model: k.model }
    }
    case 'demo':
      return { ...common, provider: 'demo', baseUrl: 'demo:', rootUrl: 'demo:' }
  }
}

/** OpenAI-style bases end in a version segment; add `/v1` only when the URL has no path at all. */
function openAIBase(root: string, provider: ProviderName): string {
  if (provider === 'anthropic') return root.replace(/\/v1$/, '')
  if (provider === 'azure-openai') return root
  return new URL(root).pathname.replace(/\/$/, '') === '' ? `${root}/v1` : root
}

const trimSlash = (s: string) => s.replace(/\/+$/, '')

function compileRoute(name: string, namespace: string, spec: RouteSpec): Route {
  const rules = spec.rules.map((r) => ({ match: r.match, backends: r.backends.map(({ name, weight }) => ({ name, weight })) }))
  const fallback = spec.fallback?.backends.length ? spec.fallback.backends : (spec.failover?.chain ?? [])
  return {
    name,
    namespace,
    models: spec.models,
    catchAll: !spec.models?.length && !rules.some((r) => r.match?.modelPattern),
    rules,
    defaultBackend: spec.defaultBackend && { name: spec.defaultBackend.name, weight: spec.defaultBackend.weight },
    fallback,
    attemptTimeoutMs: spec.fallback ? spec.fallback.timeoutSeconds * 1000 : undefined,
    spec,
  }
}

function listModels(routes: Route[], backends: Map<string, Backend>): CompiledConfig['models'] {
  const out = new Map<string, string>()
  for (const r of routes) {
    for (const m of r.models ?? []) if (!out.has(m)) out.set(m, r.name)
    if (!r.catchAll) continue
    // A catch-all route serves whatever its backends name upstream.
    const names = [r.defaultBackend?.name, ...r.rules.flatMap((x) => x.backends.map((b) => b.name))]
    for (const n of names) {
      const m = n && backends.get(`${r.namespace}/${n}`)?.model
      if (m && !out.has(m)) out.set(m, r.name)
    }
  }
  return [...out].map(([id, route]) => ({ id, route }))
}
