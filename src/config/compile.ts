// Compiles validated documents into the form the hot path reads: maps by
// name, resolved URLs and secrets, hashed keys. Cross-references (a route
// naming a backend that does not exist) are config errors like any other.
import type { LoadedDocument, ConfigProblem } from './load.ts'
import { ConfigError } from './load.ts'
import type { BackendSpec, ExperimentSpec, GatewaySpec, InlineBackend, LimitSet, RouteSpec } from './schema.ts'
import { backendSpec, gatewaySpec, inlineApiKeySecret, INLINE_PROVIDER_URLS } from './schema.ts'
import { sha256Hex } from '../auth/hash.ts'
import { compileFailover, compileRules, type FailoverPolicy, type Rule, type WeightedRef } from './compile-route.ts'
import { fromInline, fromResource, type Experiment } from './compile-experiment.ts'
import { formatNano, maxCostNano, parseNano } from '../usage/cost.ts'
import { durationMs } from './duration.ts'
import { parseServiceAccountKey } from '../providers/gemini/auth.ts'

/** Why a Vertex backend's secret is not a service-account key, if it is not. */
const serviceAccountProblem = (json: string) => {
  const k = parseServiceAccountKey(json)
  return typeof k === 'string' ? k : undefined
}

export type { WeightedRef, Rule, FailoverPolicy, Experiment }

export type ProviderName = 'openai' | 'azure-openai' | 'anthropic' | 'kserve' | 'demo' | 'cohere' | 'mistral' | 'bedrock' | 'gemini' | 'vertex'

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
  /** Bedrock: the region and credentials its requests are signed with. */
  aws?: AwsSettings
  spec: BackendSpec
}

export interface AwsSettings {
  region: string
  accessKeyId?: string
  secretAccessKey?: string
  sessionToken?: string
  /** IRSA (EKS): no keys, a role to assume with the mounted token (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE). */
  webIdentity?: { roleArn: string; tokenFile: string; sessionName: string; stsUrl?: string }
}

export interface Route {
  name: string
  namespace: string
  models?: string[]
  /** Serves any model: no `models` and no rule with a model condition. */
  catchAll: boolean
  rules: Rule[]
  defaultBackend?: WeightedRef
  /** Backends to try, in order, after the chosen one fails: the explicit chain, else the route's backends by priority. */
  fallback: string[]
  failover: FailoverPolicy
  /** Experiments splitting this route's traffic, in the order they are tried. */
  experiments: Experiment[]
  /** Whether its requests get cost records and spend (`spec.costTracking`, on unless turned off). */
  costTracking: boolean
  /** The route's own attribution headers, as [dimension, header]. */
  attribution: Array<readonly [string, string]>
  /** The backends of its namespace, by name (one map per namespace). */
  backends: Map<string, Backend>
  /** Its rate limits' scope in the state store. */
  limitScope: string
  /** Some rule bounds the prompt's tokens, so planning may have to count them. */
  countsPrompt: boolean
  /** Client headers (lowercase) passed on to a backend that gets the client's request natively. */
  forwardHeaders: readonly string[]
  spec: RouteSpec
}

export interface Principal {
  name: string
  team?: string
  tier?: string
  /** Allowed model names or globs; undefined: all. */
  models?: string[]
  admin: boolean
  limits?: LimitSet
}

export interface CompiledConfig {
  backends: Map<string, Backend>
  routes: Route[]
  experiments: Experiment[]
  gateway: GatewaySpec
  /** sha256(key) in hex -> principal. */
  keys: Map<string, Principal>
  /** Model ids for GET /v1/models, with the route serving each. */
  models: Array<{ id: string; route: string }>
  /** Stored Responses API responses live this long (`spec.responses.retention`). */
  responses: { retentionSeconds: number }
  warnings: string[]
  /** Facts worth telling at load that are not problems (where a credential will come from). */
  notes?: string[]
}

/** Looks up a secret outside the cluster: environment variables or Worker bindings. */
export type SecretLookup = (envName: string) => string | undefined

/**
 * A backend's `apiKeySecret` in a config pulled from the controller: the
 * Secret of that name in the backend's own namespace, and nothing else (never
 * the runtime's environment).
 */
export type ClusterSecretLookup = (namespace: string, ref: { name: string; key: string }) => string | undefined

/** How the controller's document keys a Secret's value: `namespace/name/key` (none of the three can hold a slash). */
export const clusterSecretKey = (namespace: string, ref: { name: string; key: string }) => `${namespace}/${ref.name}/${ref.key}`

/** The naming rule: apiKeySecret {name: openai-credentials, key: api-key} -> OPENAI_CREDENTIALS_API_KEY. */
export function secretEnvName(ref: { name: string; key: string }): string {
  return `${ref.name}_${ref.key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

/** `clusterSecrets`, when given, is where every backend's apiKeySecret comes from; `secrets` then serves only the gateway's own settings (keyEnv). */
export async function compileConfig(docs: LoadedDocument[], secrets: SecretLookup, source = 'config', clusterSecrets?: ClusterSecretLookup): Promise<CompiledConfig> {
  const problems: ConfigProblem[] = []
  const warnings: string[] = []
  const notes: string[] = []
  const backends = new Map<string, Backend>()
  const routes: Route[] = []
  const resources: Array<{ name: string; namespace: string; spec: ExperimentSpec }> = []
  let gateway: GatewaySpec | undefined
  const seen = new Set<string>()
  const inline: Array<{ route: string; index: number; i: number; b: Backend }> = []

  for (const { index, resource: r } of docs) {
    const ns = r.metadata.namespace ?? 'default'
    const id = `${r.kind} ${ns}/${r.metadata.name}`
    if (seen.has(id)) problems.push({ doc: index, resource: `${r.kind} ${r.metadata.name}`, path: 'metadata.name', message: 'defined twice' })
    seen.add(id)
    if (r.kind === 'InferenceBackend') backends.set(`${ns}/${r.metadata.name}`, compileBackend(r.metadata.name, ns, r.spec, secrets, warnings, clusterSecrets, notes))
    else if (r.kind === 'InferenceRoute') {
      routes.push(compileRoute(r.metadata.name, ns, r.spec))
      r.spec.backends?.forEach((b, i) => inline.push({ route: r.metadata.name, index, i, b: compileBackend(b.name, ns, inlineBackendSpec(b), secrets, warnings, clusterSecrets) }))
    }
    else if (r.kind === 'InferenceExperiment') resources.push({ name: r.metadata.name, namespace: ns, spec: r.spec })
    else if (gateway) problems.push({ doc: index, resource: `GatewayConfig ${r.metadata.name}`, path: '', message: 'only one GatewayConfig is allowed' })
    else gateway = r.spec
  }

  // A route's inline backends join the namespace's; one name, one backend.
  const inlineOwner = new Map<string, string>()
  for (const { route, index, i, b } of inline) {
    const key = `${b.namespace}/${b.name}`
    const other = inlineOwner.get(key) ?? (backends.has(key) ? `InferenceBackend ${b.name}` : undefined)
    if (other) problems.push({ doc: index, resource: `InferenceRoute ${route}`, path: `spec.backends[${i}].name`, message: `backend "${b.name}" of InferenceRoute ${route} clashes with ${other} in namespace ${b.namespace}: rename one` })
    else backends.set(key, b)
    inlineOwner.set(key, other ?? `the inline backend of InferenceRoute ${route}`)
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
  const experiments: Experiment[] = routes.flatMap((r) => r.experiments)
  for (const exp of resources) {
    exp.spec.variants.forEach((v, i) => check('InferenceExperiment', exp, `spec.variants[${i}].backend`, v.backend))
    const inNs = routes.filter((r) => r.namespace === exp.namespace)
    const control = exp.spec.variants[0]!.backend
    const targets = exp.spec.route ? inNs.filter((r) => r.name === exp.spec.route) : inNs.filter((r) => routeBackends(r).includes(control))
    if (exp.spec.route && !targets.length) {
      problems.push({ doc: docOf.get(`InferenceExperiment ${exp.namespace}/${exp.name}`) ?? 0, resource: `InferenceExperiment ${exp.name}`, path: 'spec.route', message: `route "${exp.spec.route}" is not defined in namespace ${exp.namespace}` })
      continue
    }
    const e = fromResource(exp.name, exp.namespace, exp.spec, targets.map((r) => r.name))
    experiments.push(e)
    for (const r of targets) r.experiments.push(e)
  }
  const names = new Map<string, number>()
  for (const e of experiments) names.set(`${e.namespace}/${e.name}`, (names.get(`${e.namespace}/${e.name}`) ?? 0) + 1)
  for (const [n, count] of names) if (count > 1) problems.push({ doc: 0, path: '', message: `experiment "${n}" is defined ${count} times (names must be unique per namespace, inline ones included)` })
  if (problems.length) throw new ConfigError(problems, source)
  for (const r of routes) if (!r.spec.fallback?.backends.length && !r.spec.failover?.chain.length) r.fallback = byPriority(r, backends)
  for (const r of routes) if (!r.failover.enabled) r.fallback = []
  const byNamespace = new Map<string, Map<string, Backend>>()
  for (const b of backends.values()) {
    if (!byNamespace.has(b.namespace)) byNamespace.set(b.namespace, new Map())
    byNamespace.get(b.namespace)!.set(b.name, b)
  }
  for (const r of routes) r.backends = byNamespace.get(r.namespace) ?? new Map()

  const settings = gateway ?? gatewaySpec.parse({})
  const gatewayDoc = docs.find((d) => d.resource.kind === 'GatewayConfig')
  const tooSmall = budgetsBelowOneRequest(settings, routes, gatewayDoc?.index ?? 0, `GatewayConfig ${gatewayDoc?.resource.metadata.name ?? ''}`)
  if (tooSmall.length) throw new ConfigError(tooSmall, source)
  const keys = new Map<string, Principal>()
  for (const k of settings.auth.keys) {
    let hash = k.keySha256?.toLowerCase()
    const plain = k.key ?? (k.keyEnv ? secrets(k.keyEnv) : undefined)
    if (k.keyEnv && !plain) warnings.push(`API key "${k.name}": environment variable ${k.keyEnv} is not set; the key is disabled`)
    if (plain) hash = await sha256Hex(plain)
    if (hash) keys.set(hash, { name: k.name, team: k.team, tier: k.tier, models: k.models, admin: k.admin, limits: k.limits })
  }
  if (!settings.auth.open && keys.size === 0) warnings.push('auth is closed and no API keys are defined: every request will get 401')
  warnings.push(...tokenLimitsBelowOneRequest(settings, routes))

  const responses = { retentionSeconds: Math.ceil(durationMs(settings.responses.retention) / 1000) }
  return { backends, routes, experiments, gateway: settings, keys, models: listModels(routes, backends), responses, warnings, notes }
}

/**
 * A budget is reserved a request's worst case before it is sent: `defaultMaxTokens` of
 * output (when the client sets no max_tokens) at the priciest backend the request may
 * reach. A budget below that, even with an empty prompt, would refuse those requests
 * with a 402 from its first one: say so at load instead.
 */
function budgetsBelowOneRequest(settings: GatewaySpec, routes: Route[], doc: number, resource: string): ConfigProblem[] {
  if (!settings.budgets.length) return []
  const maxTokens = settings.limits.defaultMaxTokens
  let worst = 0
  let where = ''
  for (const r of routes) {
    for (const name of new Set([...routeBackends(r), ...r.fallback])) {
      const b = r.backends.get(name)
      const cost = b ? maxCostNano(b, 0, maxTokens) : 0
      if (cost > worst) [worst, where] = [cost, `backend "${name}" of route "${r.name}"`]
    }
  }
  return settings.budgets.flatMap((b, i) => {
    const amount = parseNano(b.amount)
    if (amount >= worst) return []
    const who = b.scope === 'user' ? 'every user' : `${b.scope} '${b.name}'`
    return [{
      doc,
      resource,
      path: `spec.budgets[${i}].amount`,
      message:
        `the budget of ${who} (${b.amount} ${b.currency} a ${b.period}) is smaller than one request's worst case, ` +
        `${formatNano(worst)} ${b.currency}: ${maxTokens} output tokens (limits.defaultMaxTokens, reserved when a request sets no max_tokens) at ${where}, ` +
        `so every such request would be refused with 402. Raise the budget well above ${formatNano(worst)} ${b.currency} (prompts cost too), ` +
        `or lower limits.defaultMaxTokens (and have clients set max_tokens)`,
    }]
  })
}

/**
 * A token limit is reserved `defaultMaxTokens` for a request that sets no max_tokens: one below
 * it refuses every such request with a 429. Only a warning: clients that set max_tokens pass.
 */
function tokenLimitsBelowOneRequest(settings: GatewaySpec, routes: Route[]): string[] {
  const max = settings.limits.defaultMaxTokens
  const sets: Array<[string, Partial<Record<'tokensPerMinute' | 'tokensPerDay', number>> | undefined]> = [
    ...routes.map((r): [string, typeof r.spec.rateLimit] => [`route "${r.name}"`, r.spec.rateLimit]),
    ...settings.auth.keys.map((k): [string, typeof k.limits] => [`API key "${k.name}"`, k.limits]),
    ...settings.teams.map((t): [string, typeof t.limits] => [`team "${t.name}"`, t.limits]),
    ['every user (limits.perUser)', settings.limits.perUser],
  ]
  return sets.flatMap(([who, l]) =>
    (['tokensPerMinute', 'tokensPerDay'] as const)
      .filter((u) => l?.[u] !== undefined && l[u]! < max)
      .map((u) => `${who}: ${u} ${l![u]} is below limits.defaultMaxTokens (${max}), which a request without max_tokens reserves; every such request will get 429. Lower limits.defaultMaxTokens, or raise the limit`),
  )
}

function compileBackend(name: string, namespace: string, spec: BackendSpec, secrets: SecretLookup, warnings: string[], clusterSecrets?: ClusterSecretLookup, notes: string[] = []): Backend {
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
      if (ext.provider === 'bedrock') return compileBedrock(common, ext, secrets, warnings, clusterSecrets)
      const root = trimSlash(ext.url)
      const provider: ProviderName = ext.provider === 'anthropic' ? 'anthropic' : ext.provider === 'azure-openai' ? 'azure-openai' : ext.provider === 'mistral' ? 'mistral' : ext.provider === 'gemini' || ext.provider === 'vertex' ? ext.provider : ext.provider === 'cohere' ? cohereProvider(root) : 'openai'
      let apiKey: string | undefined
      let missingSecret: string | undefined
      const ref = ext.apiKeySecret
      if (ref && clusterSecrets) {
        apiKey = clusterSecrets(namespace, ref)
        if (!apiKey) {
          missingSecret = `Secret ${namespace}/${ref.name} key "${ref.key}"`
          warnings.push(`backend "${namespace}/${name}": Secret ${namespace}/${ref.name} has no key "${ref.key}" (or does not exist); requests to it will fail with 503`)
        }
      } else if (ref) {
        const env = secretEnvName(ref)
        apiKey = secrets(env)
        if (!apiKey) {
          missingSecret = env
          warnings.push(`backend "${name}": secret ${ref.name}/${ref.key} not found (set ${env}); requests to it will fail with 503`)
        }
      }
      // No key: the metadata server's token (src/providers/gemini/auth.ts), which only GKE and GCE VMs have.
      if (provider === 'vertex' && !ref) notes.push(`backend "${name}": no apiKeySecret, so Vertex AI tokens come from the metadata server (GKE Workload Identity, a Compute Engine VM); elsewhere give apiKeySecret a service-account key`)
      if (provider === 'vertex' && apiKey) {
        const bad = serviceAccountProblem(apiKey)
        if (bad) {
          missingSecret = `a service-account key in secret ${ref!.name}/${ref!.key} (it ${bad})`
          warnings.push(`backend "${name}": secret ${ref!.name}/${ref!.key} ${bad}; requests to it will fail with 503`)
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

/**
 * Bedrock: url is the runtime endpoint (by default https://bedrock-runtime.{region}.amazonaws.com); credentials from the three secrets, else the
 * gateway's own AWS_* environment (its identity, like any AWS SDK's default chain).
 */
function compileBedrock(common: Omit<Backend, 'provider' | 'baseUrl' | 'rootUrl'>, ext: NonNullable<BackendSpec['external']>, secrets: SecretLookup, warnings: string[], clusterSecrets?: ClusterSecretLookup): Backend {
  const { name, namespace } = common
  const region = ext.region!
  const root = trimSlash(ext.url)
  const missing: string[] = []
  const read = (ref: { name: string; key: string } | undefined, env: string, required: boolean): string | undefined => {
    let v: string | undefined
    let where: string
    if (ref && clusterSecrets) {
      v = clusterSecrets(namespace, ref)
      where = `Secret ${namespace}/${ref.name} key "${ref.key}"`
    } else {
      where = ref ? secretEnvName(ref) : env
      v = secrets(where)
    }
    if (!v && (required || ref)) missing.push(where)
    return v || undefined
  }
  const explicit = !!ext.accessKeyIdSecret
  const aws: AwsSettings = {
    region,
    accessKeyId: read(ext.accessKeyIdSecret, 'AWS_ACCESS_KEY_ID', true),
    secretAccessKey: read(ext.secretAccessKeySecret, 'AWS_SECRET_ACCESS_KEY', true),
    sessionToken: read(ext.sessionTokenSecret, 'AWS_SESSION_TOKEN', false),
  }
  // Outside explicit secrets, a session token from the environment only counts with its keys.
  if (!explicit && !aws.accessKeyId) aws.sessionToken = undefined
  const roleArn = secrets('AWS_ROLE_ARN')
  const tokenFile = secrets('AWS_WEB_IDENTITY_TOKEN_FILE')
  if (!explicit && !aws.accessKeyId && roleArn && tokenFile) {
    // No keys but IRSA's pair: the role is assumed at the first request (src/providers/bedrock/credentials.ts).
    missing.length = 0
    aws.webIdentity = { roleArn, tokenFile, sessionName: secrets('AWS_ROLE_SESSION_NAME') || `kortex-${name}`, stsUrl: secrets('AWS_STS_ENDPOINT') || undefined }
  }
  const missingSecret = missing.length ? missing.join(', ') : undefined
  const who = clusterSecrets ? `${namespace}/${name}` : name
  if (missingSecret) warnings.push(`backend "${who}": AWS credentials missing (set ${missingSecret}); requests to it will fail with 503`)
  return { ...common, provider: 'bedrock', baseUrl: root, rootUrl: root, model: ext.model, missingSecret, headers: { ...ext.headers }, aws }
}

/** OpenAI-style bases end in a version segment; add `/v1` only when the URL has no path at all. */
function openAIBase(root: string, provider: ProviderName): string {
  if (provider === 'gemini' || provider === 'vertex') return root
  if (provider === 'anthropic') return root.replace(/\/v1$/, '')
  if (provider === 'cohere') return root.replace(/\/v[12]$/, '')
  if (provider === 'azure-openai') return root
  return new URL(root).pathname.replace(/\/$/, '') === '' ? `${root}/v1` : root
}

/** Cohere speaks its own v2 API, except at its OpenAI compatibility URL (`/compatibility/v1`), which configs written for the old alias still name. */
const cohereProvider = (root: string): ProviderName => (/\/compatibility(\/|$)/.test(new URL(root).pathname) ? 'openai' : 'cohere')

const trimSlash = (s: string) => s.replace(/\/+$/, '')

/** An inline backend as the InferenceBackend it stands for (defaults and all). */
function inlineBackendSpec(b: InlineBackend): BackendSpec {
  const common = { priority: b.priority, matchHeaders: b.matchHeaders, timeoutSeconds: b.timeoutSeconds }
  if (b.type === 'kserve') return backendSpec.parse({ ...common, type: 'kserve', kserve: { serviceName: b.inferenceService, namespace: b.namespace, url: b.url, model: b.model } })
  const provider = b.provider!
  const external = { url: b.url ?? INLINE_PROVIDER_URLS[provider], provider, model: b.model, apiKeySecret: inlineApiKeySecret(b) }
  return backendSpec.parse({ ...common, type: 'external', external })
}

function compileRoute(name: string, namespace: string, spec: RouteSpec): Route {
  const rules = compileRules(spec)
  const userHeader = (spec.rateLimit?.userHeader ?? 'x-user-id').toLowerCase()
  const ct = spec.costTracking
  return {
    name,
    namespace,
    models: spec.models,
    catchAll: !spec.models?.length && !rules.some((r) => r.serves),
    rules,
    defaultBackend: spec.defaultBackend && { name: spec.defaultBackend.name, weight: spec.defaultBackend.weight },
    fallback: spec.fallback?.backends.length ? spec.fallback.backends : (spec.failover?.chain ?? []),
    failover: compileFailover(spec),
    experiments: spec.experiments.map((e) => fromInline(name, namespace, e, userHeader)),
    costTracking: ct !== false && !(typeof ct === 'object' && !ct.enabled),
    attribution: typeof ct === 'object' ? ct.attribution.map((a) => [dimensionOf(a.header), a.header] as const) : [],
    backends: new Map(), // filled once every backend is read
    limitScope: `route:${namespace}/${name}`,
    countsPrompt: rules.some((r) => r.promptTokens),
    forwardHeaders: spec.forwardHeaders,
    spec,
  }
}

/** `X-Team-ID` → team: the seed's attribution headers name their dimension. */
const dimensionOf = (header: string) => header.toLowerCase().replace(/^x-/, '').replace(/-id$/, '').replace(/[^a-z0-9]+/g, '_')

/** Every backend a route names, in order of appearance. */
function routeBackends(r: Route): string[] {
  return [...new Set([r.defaultBackend?.name, ...r.rules.flatMap((x) => x.backends.map((b) => b.name)), ...r.experiments.flatMap((e) => e.variants.map((v) => v.backend))].filter((n): n is string => !!n))]
}

/** Without an explicit chain the route's own backends are the chain, lowest `priority` first (like Envoy's priority levels). */
function byPriority(r: Route, backends: Map<string, Backend>): string[] {
  const prio = (n: string) => backends.get(`${r.namespace}/${n}`)?.priority ?? 0
  return routeBackends(r)
    .map((n, i) => ({ n, i }))
    .sort((a, b) => prio(a.n) - prio(b.n) || a.i - b.i)
    .map((x) => x.n)
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
