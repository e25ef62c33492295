// The config schema: the same resources the cluster holds (InferenceBackend,
// InferenceRoute, InferenceExperiment) plus the gateway's own settings.
// Field names and defaults follow the manifests users already have (the old
// Go operator's CRDs); enums accept any case because its own docs wrote
// `External` and `OpenAI` against lowercase enums.
import * as z from 'zod'

export const API_GROUPS = ['gateway.kortex.io', 'gateway.inference-gateway.io'] as const

/** An enum that accepts any case and yields the canonical lowercase value. */
const anyCase = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(values)) as unknown as z.ZodType<T[number], unknown>

/** Prices arrive as decimal strings ("0.03"); numbers are accepted too. */
const decimal = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = String(v).trim()
  if (!/^\d+(\.\d+)?$/.test(s)) {
    ctx.addIssue({ code: 'custom', message: `must be a non-negative decimal like "0.03", got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return s
})

const name = z.string().min(1)

export const secretRef = z.strictObject({ name, key: name })

type SecretRef = z.infer<typeof secretRef>
/** Every Secret an external backend names (its key; Bedrock's access keys): what the controller must fetch for it. */
export function secretRefsOf(external: { apiKeySecret?: SecretRef; accessKeyIdSecret?: SecretRef; secretAccessKeySecret?: SecretRef; sessionTokenSecret?: SecretRef } | undefined): SecretRef[] {
  if (!external) return []
  return [external.apiKeySecret, external.accessKeyIdSecret, external.secretAccessKeySecret, external.sessionTokenSecret].filter((r): r is SecretRef => !!r)
}

export const metadata = z.looseObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS-1123 name (lowercase letters, digits, - and .)'),
  namespace: z.string().optional(),
})

const documentHead = {
  apiVersion: z.string().refine((v) => API_GROUPS.some((g) => v === `${g}/v1alpha1`), {
    message: `must be ${API_GROUPS.map((g) => `${g}/v1alpha1`).join(' or ')}`,
  }),
  metadata,
  status: z.unknown().optional(), // written by the controller; ignored here
}

// --- InferenceBackend ---------------------------------------------------

const EXTERNAL_PROVIDERS = ['openai', 'azure-openai', 'anthropic', 'cohere', 'mistral', 'custom', 'bedrock', 'gemini', 'vertex'] as const
type ExternalProvider = (typeof EXTERNAL_PROVIDERS)[number]

/** Where each provider's public API lives: the default for a backend that names the provider and gives no url. */
const PUBLIC_URLS = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  mistral: 'https://api.mistral.ai/v1',
  cohere: 'https://api.cohere.com',
  gemini: 'https://generativelanguage.googleapis.com',
} as const

/**
 * A provider's public endpoint for a backend without `url`; undefined when it has none (Azure
 * resources, custom servers) or a setting it is built from is missing. Bedrock's runtime is per
 * region; Vertex AI's per location, with `global` on the unprefixed host (Google's locations page).
 */
export function defaultProviderUrl(e: { provider?: string; region?: string; location?: string }): string | undefined {
  if (e.provider === 'bedrock') return e.region && `https://bedrock-runtime.${e.region}.amazonaws.com`
  if (e.provider === 'vertex') return e.location && (e.location === 'global' ? 'https://aiplatform.googleapis.com' : `https://${e.location}-aiplatform.googleapis.com`)
  return PUBLIC_URLS[e.provider as keyof typeof PUBLIC_URLS]
}

const KEY_NAMES: Partial<Record<ExternalProvider, string>> = { openai: 'an OpenAI API key', anthropic: 'an Anthropic API key', mistral: 'a Mistral API key', cohere: 'a Cohere API key', gemini: 'a Gemini API key' }

const externalSpec = z
  .strictObject({
    /** The API's base address. Optional for a named provider with a public API (its official endpoint); give it for a proxy, a VPC endpoint, a test server. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** Absent: openai (an OpenAI-compatible server at url, which is then required). */
    provider: anyCase(EXTERNAL_PROVIDERS).optional(),
    apiKeySecret: secretRef.optional(),
    model: z.string().optional(),
    /** Azure OpenAI: the api-version query parameter (deployment URLs). */
    apiVersion: z.string().optional(),
    /** Azure OpenAI: the deployment name; defaults to `model`. */
    deployment: z.string().optional(),
    /** Vertex AI: the Google Cloud project id. */
    project: z.string().min(1).optional(),
    /** Vertex AI: the region, e.g. us-central1, or global (the default url is built from it). */
    location: z.string().regex(/^[a-z0-9-]+$/, 'must be a Google Cloud location like "us-central1" or "global"').optional(),
    /** Extra headers sent upstream (never secrets: use apiKeySecret). */
    headers: z.record(z.string(), z.string()).optional(),
    /**
     * OpenAI backends: a Responses API client's request goes to {url}/responses as it was sent
     * (native), or is translated to Chat Completions (translate, the default: any OpenAI-compatible server).
     */
    responsesApi: anyCase(['native', 'translate']).default('translate'),
    /** Mistral: inject Mistral's safety prompt before every conversation (its `safe_prompt`). */
    safePrompt: z.boolean().optional(),
    /** AWS Bedrock: the region the signature is scoped to, and of the default url (not read from url: VPC endpoints and proxies hide it). */
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region like "us-east-1"').optional(),
    /** AWS Bedrock credentials; all absent: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN from the environment. */
    accessKeyIdSecret: secretRef.optional(),
    secretAccessKeySecret: secretRef.optional(),
    sessionTokenSecret: secretRef.optional(),
  })
  .superRefine((e, ctx) => {
    const need = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message })
    if (e.provider === 'bedrock' && !e.region) need('region', 'provider bedrock needs a region (e.g. "us-east-1")')
    if (e.provider === 'bedrock' && !e.accessKeyIdSecret !== !e.secretAccessKeySecret) {
      need(e.accessKeyIdSecret ? 'secretAccessKeySecret' : 'accessKeyIdSecret', 'accessKeyIdSecret and secretAccessKeySecret go together')
    }
    if (e.provider === 'vertex') {
      for (const f of ['project', 'location'] as const) if (!e[f]) need(f, `provider vertex needs "${f}" (the Google Cloud ${f === 'project' ? 'project id' : 'location, e.g. us-central1 or global'})`)
    }
    if (e.provider === 'gemini' && !e.apiKeySecret) need('apiKeySecret', 'provider gemini needs "apiKeySecret" (a Gemini API key)')
    else if (!e.url && e.provider && KEY_NAMES[e.provider] && !e.apiKeySecret) need('apiKeySecret', `provider ${e.provider} needs "apiKeySecret" (${KEY_NAMES[e.provider]}) to call its public API; with a url, a server that takes none may go without`)
    if (e.url || defaultProviderUrl(e) || e.provider === 'bedrock' || e.provider === 'vertex') return
    if (e.provider === 'azure-openai') need('url', 'provider azure-openai needs "url" (the resource endpoint, e.g. https://NAME.openai.azure.com)')
    else if (e.provider === 'custom') need('url', 'provider custom needs "url" (the server\'s address)')
    else need('url', `is required: the server's address, or name a provider with a public API (${Object.keys(PUBLIC_URLS).join(', ')}, bedrock, vertex) to use its official endpoint`)
  })
  // The gateway reads one shape: the provider always set, the url the given or the official one.
  .transform((e) => ({ ...e, provider: e.provider ?? 'openai', url: (e.url ?? defaultProviderUrl(e))! }))

export const backendSpec = z.strictObject({
  type: anyCase(['external', 'kserve', 'kubernetes', 'demo']),
  external: externalSpec.optional(),
  kserve: z
    .strictObject({
      serviceName: name,
      namespace: z.string().optional(),
      /** openai: the runtime's OpenAI-compatible API; v1/v2: predictive protocols (pass-through only). */
      protocol: anyCase(['openai', 'v1', 'v2']).default('openai'),
      /** Where the OpenAI API lives: "/openai" for the Hugging Face runtime, "" for native vLLM. */
      pathPrefix: z.string().default('/openai'),
      /** Override the in-cluster address (e.g. the InferenceService's status.address.url). */
      url: z.url({ protocol: /^https?$/ }).optional(),
      model: z.string().optional(),
    })
    .optional(),
  kubernetes: z
    .strictObject({
      serviceName: name,
      namespace: z.string().optional(),
      port: z.int().min(1).max(65535).default(8080),
      pathPrefix: z.string().default('/v1'),
      model: z.string().optional(),
    })
    .optional(),
  demo: z
    .strictObject({
      /** Delay between streamed words, to watch a stream arrive. */
      chunkDelayMs: z.int().min(0).max(5000).default(0),
    })
    .optional(),
  /** Active health checks, opt-in. They probe free endpoints only (see src/resilience/health.ts). */
  healthCheck: z
    .strictObject({
      /** Relative to the service root. Absent: the backend type's own probe (KServe has no /health). */
      path: z.string().optional(),
      intervalSeconds: z.int().min(1).default(30),
      timeoutSeconds: z.int().min(1).default(5),
      failureThreshold: z.int().min(1).default(3),
      healthyThreshold: z.int().min(1).default(1),
    })
    .optional(),
  /** Absent: a breaker with these defaults (src/resilience/breaker.ts). */
  circuitBreaker: z
    .strictObject({
      enabled: z.boolean().default(true),
      consecutiveFailures: z.int().min(1).default(5),
      failureRatePercent: z.number().gt(0).max(100).default(50),
      windowSeconds: z.number().min(1).default(30),
      minimumRequests: z.int().min(1).default(20),
      cooldownSeconds: z.number().gt(0).default(10),
      maxCooldownSeconds: z.number().gt(0).default(300),
      halfOpenRequests: z.int().min(1).default(1),
      /** Spread of each cooldown: full (0..d), partial (d/2..d), none (d). */
      jitter: anyCase(['full', 'partial', 'none']).default('partial'),
    })
    .refine((b) => b.maxCooldownSeconds >= b.cooldownSeconds, { path: ['maxCooldownSeconds'], message: 'must be at least cooldownSeconds' })
    .optional(),
  cost: z
    .strictObject({
      inputTokenCost: decimal.optional(),
      outputTokenCost: decimal.optional(),
      cachedInputTokenCost: decimal.optional(),
      /** Prompt-cache writes (Anthropic's cache_creation_input_tokens); the input price when absent. */
      cacheWriteTokenCost: decimal.optional(),
      requestCost: decimal.optional(),
      currency: z.string().default('USD'),
    })
    .optional(),
  timeoutSeconds: z.number().positive().default(60),
  maxConcurrency: z.int().min(1).default(100),
  priority: z.int().default(0),
  /** Context window in tokens, when known (used to skip fallbacks that cannot fit). */
  contextWindow: z.int().min(1).optional(),
  /** Headers a request must carry for this backend to be chosen (the design article's shape). */
  matchHeaders: z.record(z.string(), z.string()).optional(),
})
  .superRefine((s, ctx) => {
    const need = s.type === 'demo' ? undefined : s.type
    if (need && !s[need as 'external' | 'kserve' | 'kubernetes']) ctx.addIssue({ code: 'custom', path: [need], message: `type ${need} needs a "${need}" section` })
  })

export const inferenceBackend = z.strictObject({
  ...documentHead,
  kind: z.literal('InferenceBackend'),
  spec: backendSpec,
})

// --- InferenceRoute -----------------------------------------------------

const backendRef = z.strictObject({
  name,
  weight: z.int().min(0).max(100).default(100),
  matchHeaders: z.record(z.string(), z.string()).optional(),
})

const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'must be a duration like "30s", "500ms", "5m", "7d"'),
])

const regex = z.string().refine(
  (r) => {
    try {
      new RegExp(r)
      return true
    } catch {
      return false
    }
  },
  { message: 'must be a valid regular expression' },
)

const trigger = z.union([
  z.strictObject({ status: z.int().min(100).max(599) }),
  z.strictObject({ timeout: duration }),
  z.strictObject({ error: anyCase(['connection', 'timeout', 'context_length_exceeded', 'rate_limit', 'server']) }),
])

/** Requests and tokens per window; any combination. */
export const limitUnits = {
  requestsPerSecond: z.int().min(1).optional(),
  requestsPerMinute: z.int().min(1).optional(),
  requestsPerHour: z.int().min(1).optional(),
  requestsPerDay: z.int().min(1).optional(),
  tokensPerMinute: z.int().min(1).optional(),
  tokensPerDay: z.int().min(1).optional(),
  /** When the state store cannot be reached: let requests through (open) or refuse them (closed). */
  failMode: anyCase(['open', 'closed']).optional(),
}

export const limitSet = z.strictObject(limitUnits)

export const LIMIT_UNITS = ['requestsPerSecond', 'requestsPerMinute', 'requestsPerHour', 'requestsPerDay', 'tokensPerMinute', 'tokensPerDay'] as const

/** A header condition: a plain string is an exact match (the seed's shape). */
const headerMatch = z.union([
  z.string(),
  z
    .strictObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: regex.optional(), present: z.boolean().optional() })
    .refine((m) => Object.values(m).filter((v) => v !== undefined).length === 1, { message: 'give exactly one of exact, prefix, regex, present' }),
])

const oneOrMany = z.union([z.string(), z.array(z.string()).min(1)]).transform((v) => (typeof v === 'string' ? [v] : v))

const ruleMatch = z.strictObject({
  headers: z.record(z.string(), headerMatch).optional(),
  pathPrefix: z.string().optional(),
  /** The requested model: exact name, prefix, or glob (`gpt-4*`). */
  model: z.string().optional(),
  modelPrefix: z.string().optional(),
  modelPattern: z.string().optional(),
  /** The API key's principal. */
  principal: z.strictObject({ name: oneOrMany.optional(), team: oneOrMany.optional(), tier: oneOrMany.optional() }).optional(),
  /** Prompt size in tokens, both bounds inclusive. */
  promptTokens: z
    .strictObject({ min: z.int().min(0).optional(), max: z.int().min(0).optional() })
    .refine((t) => t.min !== undefined || t.max !== undefined, { message: 'give min, max or both' })
    .refine((t) => t.min === undefined || t.max === undefined || t.min <= t.max, { message: 'min must not exceed max' })
    .optional(),
})

export const STRATEGIES = ['weighted', 'cost', 'latency', 'least-busy'] as const

const rule = z.strictObject({
  /** Shown in x-kortex-rule and logs; defaults to the rule's index. */
  name: z.string().optional(),
  match: ruleMatch.optional(),
  backends: z.array(backendRef).min(1),
  /** weighted: by weight; cost: cheapest that fits the prompt; latency: lowest recent latency; least-busy: fewest in flight. */
  strategy: anyCase(STRATEGIES).default('weighted'),
})

/** Headers a route may never pass on from clients: credentials, and what the gateway itself sets. */
export const UNFORWARDABLE_HEADERS = ['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie', 'host', 'content-length', 'content-type', 'content-encoding', 'accept', 'accept-encoding', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'traceparent', 'tracestate']

const forwardHeader = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be an HTTP header name')
  .transform((h) => h.toLowerCase())
  .refine((h) => !UNFORWARDABLE_HEADERS.includes(h), { message: 'cannot be forwarded: the gateway sets it (or it carries credentials)' })

/** Providers an inline backend may name without a url: their public API's address. */
export const INLINE_PROVIDER_URLS = { openai: PUBLIC_URLS.openai, anthropic: PUBLIC_URLS.anthropic, mistral: PUBLIC_URLS.mistral, cohere: PUBLIC_URLS.cohere } as const

/**
 * A backend written inside a route (the design article's shape): a provider's API
 * (`provider`, credentials from the Secret `<provider>-credentials` key `api-key` unless
 * apiKeySecret says otherwise) or a KServe InferenceService (`type: kserve`).
 */
const inlineBackend = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS-1123 name (lowercase letters, digits, - and .)'),
    type: anyCase(['external', 'kserve']).optional(),
    provider: anyCase(Object.keys(INLINE_PROVIDER_URLS) as ['openai', 'anthropic', 'mistral', 'cohere']).optional(),
    model: z.string().optional(),
    /** kserve: the InferenceService's name (in the route's namespace unless `namespace` says otherwise). */
    inferenceService: name.optional(),
    namespace: z.string().optional(),
    /** Overrides the provider's public address (a proxy, a test server) or the InferenceService's in-cluster one. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    apiKeySecret: secretRef.optional(),
    /** Within one priority level, traffic splits by weight. */
    weight: z.int().min(0).max(100).default(100),
    /** Lower first: the route tries the next level only when every backend of this one fails (or does not match the headers). */
    priority: z.int().default(0),
    matchHeaders: z.record(z.string(), z.string()).optional(),
    timeoutSeconds: z.number().positive().optional(),
  })
  .superRefine((b, ctx) => {
    const kserve = b.type === 'kserve'
    if (kserve && !b.inferenceService) ctx.addIssue({ code: 'custom', path: ['inferenceService'], message: 'type kserve needs "inferenceService" (the InferenceService\'s name)' })
    if (!kserve && !b.provider) ctx.addIssue({ code: 'custom', path: ['provider'], message: `give a provider (${Object.keys(INLINE_PROVIDER_URLS).join(', ')}) or type: kserve with inferenceService` })
    if (kserve && b.provider) ctx.addIssue({ code: 'custom', path: ['provider'], message: 'a kserve backend has no provider' })
  })

export type InlineBackend = z.infer<typeof inlineBackend>

/** An inline provider backend's key: its own apiKeySecret, else the convention `<provider>-credentials` / `api-key`. */
export const inlineApiKeySecret = (b: { provider?: string; apiKeySecret?: SecretRef }): SecretRef | undefined =>
  b.apiKeySecret ?? (b.provider ? { name: `${b.provider.toLowerCase()}-credentials`, key: 'api-key' } : undefined)

/** Every Secret a route's inline backends name (raw or parsed spec): what the controller must fetch for it, as secretRefsOf for a backend. */
export function secretRefsOfRoute(spec: { backends?: unknown } | undefined): SecretRef[] {
  if (!Array.isArray(spec?.backends)) return []
  return spec.backends.flatMap((b) => {
    if (!b || typeof b !== 'object' || String((b as { type?: unknown }).type ?? '').toLowerCase() === 'kserve') return []
    const ref = inlineApiKeySecret(b as { provider?: string; apiKeySecret?: SecretRef })
    return ref && typeof ref.name === 'string' && typeof ref.key === 'string' ? [ref] : []
  })
}

export const routeSpec = z.strictObject({
  /** Public model names this route serves (Kortex addition). A route with none, and no modelPattern rule, serves any model. */
  models: z.array(name).optional(),
  /** Backends defined in the route itself: each becomes an InferenceBackend of its name in the route's namespace. */
  backends: z.array(inlineBackend).optional(),
  rules: z.array(rule).default([]),
  defaultBackend: backendRef.optional(),
  fallback: z
    .strictObject({
      backends: z.array(name).default([]),
      timeoutSeconds: z.number().positive().default(30),
    })
    .optional(),
  failover: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Extra attempts on the same backend before moving on. */
      maxRetries: z.int().min(0).max(10).default(0),
      chain: z.array(name).default([]),
      /** What moves a request on; default: 429, 500, 502, 503, 504, timeouts, connection errors, context length exceeded. */
      triggers: z.array(trigger).optional(),
      /** Full-jitter exponential backoff between retries on one backend. */
      initialBackoffMs: z.int().min(0).default(200),
      maxBackoffMs: z.int().min(0).default(5000),
      /** A Retry-After longer than this is not waited for: the request moves to the next backend. */
      maxRetryAfterSeconds: z.number().min(0).default(10),
      /** No attempt starts after this, counted from the request's arrival. */
      deadlineSeconds: z.number().positive().default(120),
    })
    .optional(),
  rateLimit: z
    .strictObject({
      ...limitUnits,
      /** The seed requires it; Kortex accepts any unit instead. */
      requestsPerMinute: z.int().min(1).optional(),
      /** Each user (by userHeader) gets the limit, rather than the route as a whole. */
      perUser: z.boolean().default(false),
      userHeader: z.string().default('x-user-id'),
    })
    .refine((r) => LIMIT_UNITS.some((u) => r[u] !== undefined), { message: 'name at least one limit, e.g. requestsPerMinute' })
    .optional(),
  experiments: z
    .array(
      z.strictObject({
        name,
        control: name,
        treatment: name,
        trafficPercent: z.number().min(0).max(100).default(10),
        metric: z.string().default('latency_p95'),
      }),
    )
    .default([]),
  costTracking: z
    .union([
      z.boolean(),
      z.strictObject({
        enabled: z.boolean().default(true),
        attribution: z.array(z.strictObject({ header: name })).default([]),
      }),
    ])
    .default(true),
  enableLogging: z.boolean().default(false),
  /**
   * Client headers this route passes on to a backend that gets the client's request natively
   * (an Anthropic backend for /v1/messages, a native Responses backend), e.g. [anthropic-beta].
   * Translated requests never carry them.
   */
  forwardHeaders: z.array(forwardHeader).default([]),
})
  .superRefine((s, ctx) => {
    if (!s.defaultBackend && s.rules.length === 0 && !s.backends?.length) {
      ctx.addIssue({ code: 'custom', path: ['defaultBackend'], message: 'a route needs backends, a defaultBackend or at least one rule' })
    }
    const seen = new Set<string>()
    s.backends?.forEach((b, i) => {
      if (seen.has(b.name)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `backend "${b.name}" is listed twice` })
      seen.add(b.name)
    })
  })

export const inferenceRoute = z.strictObject({
  ...documentHead,
  kind: z.literal('InferenceRoute'),
  spec: routeSpec,
})

// --- InferenceExperiment ------------------------------------------------

export const experimentSpec = z.strictObject({
  /** The route whose traffic the experiment splits. */
  route: z.string().optional(),
  variants: z.array(z.strictObject({ name, backend: name, weight: z.number().min(0).max(100).default(50) })).min(2),
  trafficPercent: z.number().min(0).max(100).default(100),
  /** Who is assigned: this header's value, else the API key, else nobody in particular (per request). */
  subjectHeader: z.string().default('x-user-id'),
  metrics: z.array(z.string()).default([]),
  /** When the experiment began (ISO 8601); before it, no one is enrolled. Default: the first request it sees. */
  start: z.iso.datetime({ offset: true }).optional(),
  duration: duration.optional(),
  minimumSampleSize: z.int().min(1).optional(),
  /** For the confidence intervals in the report. */
  confidenceLevel: z.number().gt(0.5).lt(1).default(0.95),
})

export const inferenceExperiment = z.strictObject({
  ...documentHead,
  kind: z.literal('InferenceExperiment'),
  spec: experimentSpec,
})

// --- Gateway settings -----------------------------------------------------

export const budget = z.strictObject({
  /** Who it caps: one team or key (by `name`), or every user (by the user header) each on their own. */
  scope: anyCase(['team', 'key', 'user']),
  name: z.string().optional(),
  amount: decimal,
  currency: z.string().default('USD'),
  period: anyCase(['day', 'week', 'month']),
  /** Percentages of the amount at which to alert, once per period each. */
  alertAt: z.array(z.number().gt(0).max(1000)).default([50, 80, 100]),
  /** POSTed a JSON alert when a threshold is crossed. */
  webhook: z.url({ protocol: /^https?$/ }).optional(),
}).refine((b) => b.scope === 'user' || b.name, { path: ['name'], message: 'a team or key budget names its team or key' })

export const apiKeyEntry = z
  .strictObject({
    name,
    /** The key itself. Prefer keySha256 or keyEnv in files you commit. */
    key: z.string().min(8).optional(),
    /** Hex sha256 of the key (`printf %s "$KEY" | sha256sum`). */
    keySha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits').optional(),
    /** Name of an environment variable (or Worker secret) holding the key. */
    keyEnv: z.string().optional(),
    team: z.string().optional(),
    tier: z.string().optional(),
    /** Models this key may use (exact names or globs). Empty or absent: all. */
    models: z.array(z.string()).optional(),
    admin: z.boolean().default(false),
    /** Rate limits for this key, across every route. */
    limits: limitSet.optional(),
  })
  .refine((k) => [k.key, k.keySha256, k.keyEnv].filter(Boolean).length === 1, {
    message: 'give exactly one of key, keySha256, keyEnv',
  })

export const gatewaySpec = z.strictObject({
  auth: z
    .strictObject({
      /** Serve requests without a gateway key. Only for demos and trusted networks. */
      open: z.boolean().default(false),
      keys: z.array(apiKeyEntry).default([]),
    })
    .default({ open: false, keys: [] }),
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: z.int().min(1024).default(4 * 1024 * 1024),
  /** One JSON line per request on the log. */
  accessLog: z.boolean().default(true),
  /** What traces may carry beyond the GenAI attributes (traces are on when the runtime exports them: OTEL_* variables). */
  telemetry: z
    .strictObject({
      /** Prompts and completions on the upstream call spans (gen_ai.input.messages, gen_ai.output.messages). Off: they may hold personal data. */
      recordContent: z.boolean().default(false),
      /**
       * The values an attribution dimension (team, feature, ...) may take as a metric label; any other
       * is reported as `other`. The teams of the config's keys and teams are always allowed. A dimension
       * without a list keeps its first 100 distinct values.
       */
      labels: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a lowercase name like team or feature'), z.array(z.string().min(1)).max(1000)).optional(),
    })
    .default({ recordContent: false }),
  limits: z
    .strictObject({
      /** The default for every limit that does not say. */
      failMode: anyCase(['open', 'closed']).default('open'),
      /** Tokens reserved for the answer when a request sets no max_tokens. */
      defaultMaxTokens: z.int().min(1).default(1024),
      /**
       * How token limits and budgets size a prompt at admission: `exact` (js-tiktoken's
       * count; the tokenizer is built on first need, 0.2–0.4 s of CPU once) or
       * `estimate` (no tokenizer, within a few % on prose; for Workers on plans
       * with a few ms of CPU per request). Settlement uses the upstream's usage either way.
       */
      promptTokens: anyCase(['exact', 'estimate']).default('exact'),
      /** Limits every user gets (by `userHeader`), across every route. */
      perUser: limitSet.optional(),
      userHeader: z.string().default('x-user-id'),
    })
    .default({ failMode: 'open', defaultMaxTokens: 1024, promptTokens: 'exact', userHeader: 'x-user-id' }),
  /** Where limits, budgets, spend and experiment figures live. Read at start-up; changing it needs a restart. */
  state: z
    .strictObject({
      /** memory: this instance only; redis: shared by every replica (Node, Deno). */
      store: anyCase(['memory', 'redis']).default('memory'),
      /** The environment variable holding the Redis URL (it may carry a password). */
      urlEnv: z.string().default('REDIS_URL'),
      /** No store call waits longer; then the limit's failMode decides. */
      timeoutMs: z.int().min(1).max(10_000).default(100),
      /** Namespace of every key, so several gateways (or environments) can share one Redis. */
      prefix: z.string().regex(/^[\w.:-]{1,64}$/).default('kortex:'),
    })
    .default({ store: 'memory', urlEnv: 'REDIS_URL', timeoutMs: 100, prefix: 'kortex:' }),
  teams: z.array(z.strictObject({ name, limits: limitSet.optional() })).default([]),
  budgets: z.array(budget).default([]),
  /** Where attribution comes from: dimension -> request header. The key's team is the default team. */
  attribution: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a lowercase name like team or feature'), z.string()).default({ team: 'x-team-id', feature: 'x-feature-id' }),
  cost: z
    .strictObject({
      /** Send the request's cost in x-kortex-cost (non-streaming answers). */
      header: z.boolean().default(false),
      /** Batched POST of cost records. */
      sink: z
        .strictObject({
          url: z.url({ protocol: /^https?$/ }),
          /** Header holding a bearer token from this environment variable / secret. */
          tokenEnv: z.string().optional(),
          batchSize: z.int().min(1).max(10_000).default(100),
          flushSeconds: z.number().positive().default(5),
          maxQueue: z.int().min(1).default(10_000),
        })
        .optional(),
    })
    .default({ header: false }),
  /** The Responses API's stored responses (`store`, OpenAI's default, `previous_response_id`, `GET /v1/responses/{id}`). */
  responses: z
    .strictObject({
      /** How long a stored response (and its conversation) is kept in the state store; OpenAI keeps them 30 days. */
      retention: duration.refine((d) => (typeof d === 'number' ? d : Number.parseFloat(d)) > 0, { message: 'must be longer than 0' }).default('30d'),
    })
    .default({ retention: '30d' }),
})

export const gatewaySettings = z.strictObject({
  ...documentHead,
  kind: z.literal('GatewayConfig'),
  spec: gatewaySpec,
})

export const document = z.discriminatedUnion('kind', [inferenceBackend, inferenceRoute, inferenceExperiment, gatewaySettings])

export type BackendSpec = z.output<typeof backendSpec>
export type RouteSpec = z.output<typeof routeSpec>
export type ExperimentSpec = z.output<typeof experimentSpec>
export type GatewaySpec = z.output<typeof gatewaySpec>
export type LimitSet = z.output<typeof limitSet>
export type Budget = z.output<typeof budget>
export type ConfigDocument = z.output<typeof document>
