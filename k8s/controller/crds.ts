// The CustomResourceDefinitions, generated from the zod schemas the gateway
// validates with, so the cluster and the gateway never disagree about a
// field. zod gives JSON Schema; Kubernetes wants a *structural* OpenAPI v3
// schema, so this adapts it:
//   - enums accept any case in Kortex (`External`, `OpenAI`): a case-blind
//     `pattern` instead of `enum` (the values are listed in the description);
//   - unions: objects merge into one object; integer|string becomes
//     x-kubernetes-int-or-string; anything else (number|string durations and
//     prices, string|object header matches, boolean|object) is left to the
//     gateway's own validation with x-kubernetes-preserve-unknown-fields;
//   - no `additionalProperties: false` (Kubernetes prunes, and kubectl's
//     strict field validation rejects unknown fields), no defaults (the
//     gateway applies them, so stored objects stay as written: no GitOps
//     drift), numeric `exclusiveMinimum` becomes the OpenAPI v3.0 boolean.
import * as z from 'zod'
import { stringify } from 'yaml'
import { backendSpec, experimentSpec, gatewaySpec, routeSpec } from '../../src/config/schema.ts'

export const GROUP = 'gateway.kortex.io'
export const LEGACY_GROUP = 'gateway.inference-gateway.io'
export const VERSION = 'v1alpha1'

type Json = Record<string, unknown>

export interface KindInfo {
  kind: string
  plural: string
  singular: string
  shortNames: string[]
  spec: z.ZodType
  status: Json
  columns: Json[]
}

const condition: Json = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string', description: 'Accepted, ResolvedRefs or Ready (and the seed operator\'s Healthy, BackendsReady, RouteValid).' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string' },
    message: { type: 'string' },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
  },
}

const conditions: Json = {
  type: 'array',
  items: condition,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
}

const commonStatus = {
  observedGeneration: { type: 'integer', format: 'int64', description: 'The generation the controller last processed.' },
  conditions,
  lastAccepted: {
    type: 'object',
    description: 'The last generation the controller accepted, and its spec: what every controller replica serves, also after a restart, while a newer generation is invalid.',
    properties: {
      generation: { type: 'integer', format: 'int64' },
      spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
  },
}

const ready = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' }
const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }

export const KINDS: KindInfo[] = [
  {
    kind: 'InferenceBackend',
    plural: 'inferencebackends',
    singular: 'inferencebackend',
    shortNames: ['ib', 'ibackend'],
    spec: backendSpec,
    status: {
      ...commonStatus,
      url: { type: 'string', description: 'The address the gateway sends requests to (a kserve backend: its InferenceService\'s status.address.url).' },
      health: { type: 'string', enum: ['Healthy', 'Unhealthy', 'Unknown'] },
      lastHealthCheck: { type: 'string', format: 'date-time' },
      activeRequests: { type: 'integer', format: 'int64' },
      totalRequests: { type: 'integer', format: 'int64' },
      totalErrors: { type: 'integer', format: 'int64' },
      averageLatencyMs: { type: 'number' },
    },
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Provider', type: 'string', jsonPath: '.spec.external.provider' },
      { name: 'Model', type: 'string', jsonPath: '.spec.external.model' },
      { name: 'Service', type: 'string', jsonPath: '.spec.kserve.serviceName', priority: 1 },
      { name: 'URL', type: 'string', jsonPath: '.status.url', priority: 1 },
      ready,
      age,
    ],
  },
  {
    kind: 'InferenceRoute',
    plural: 'inferenceroutes',
    singular: 'inferenceroute',
    shortNames: ['ir', 'iroute'],
    spec: routeSpec,
    status: {
      ...commonStatus,
      phase: { type: 'string', enum: ['Pending', 'Active', 'Degraded', 'Failed'] },
      totalRequests: { type: 'integer', format: 'int64' },
      activeBackends: { type: 'integer', format: 'int64' },
      lastUpdated: { type: 'string', format: 'date-time' },
    },
    columns: [
      { name: 'Models', type: 'string', jsonPath: '.spec.models' },
      { name: 'Default', type: 'string', jsonPath: '.spec.defaultBackend.name' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      ready,
      age,
    ],
  },
  {
    kind: 'InferenceExperiment',
    plural: 'inferenceexperiments',
    singular: 'inferenceexperiment',
    shortNames: ['iexp'],
    spec: experimentSpec,
    status: { ...commonStatus, phase: { type: 'string' } },
    columns: [
      { name: 'Route', type: 'string', jsonPath: '.spec.route' },
      { name: 'Traffic', type: 'number', jsonPath: '.spec.trafficPercent' },
      { name: 'Duration', type: 'string', jsonPath: '.spec.duration' },
      ready,
      age,
    ],
  },
  {
    kind: 'GatewayConfig',
    plural: 'gatewayconfigs',
    singular: 'gatewayconfig',
    shortNames: ['gwc'],
    spec: gatewaySpec,
    status: { ...commonStatus },
    columns: [
      { name: 'Open', type: 'boolean', jsonPath: '.spec.auth.open' },
      { name: 'Store', type: 'string', jsonPath: '.spec.state.store' },
      ready,
      age,
    ],
  },
]

/** `External` → `[Ee][Xx][Tt]...`: a case-blind pattern that RE2 (the API server) and JavaScript both read. */
function caseBlind(values: string[]): string {
  const one = (v: string) =>
    [...v].map((c) => (c.toLowerCase() !== c.toUpperCase() ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('')
  return `^(${values.map(one).join('|')})$`
}

const typeOf = (s: Json): string | undefined => (typeof s.type === 'string' ? s.type : undefined)

/** JSON Schema (zod's, draft 2020-12) → a Kubernetes structural schema. */
export function structural(input: Json): Json {
  const s: Json = { ...input }
  delete s.$schema
  delete s.propertyNames
  if ('$ref' in s || '$defs' in s) throw new Error(`$ref is not allowed in a CRD schema: ${JSON.stringify(s).slice(0, 200)}`)
  const out: Json = {}
  const notes: string[] = []
  if (typeof s.description === 'string') notes.push(s.description)
  if ('default' in s) notes.push(`Default: ${JSON.stringify(s.default)}.`)

  if (Array.isArray(s.type)) {
    // zod merges a union of plain types into `type: [..]`: string|number is a decimal ("0.03") or a duration ("30s").
    const types = [...(s.type as string[])].sort()
    if (types.join() === 'integer,string') Object.assign(out, { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true })
    else {
      out['x-kubernetes-preserve-unknown-fields'] = true
      notes.push(types.join() === 'number,string' ? 'A string or a number (a decimal like "0.03").' : `One of: ${types.join(', ')}.`)
    }
  } else if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    const options = ((s.anyOf ?? s.oneOf) as Json[]).map((o) => structural(o))
    const types = options.map(typeOf)
    if (types.every((t) => t === 'object') && options.every((o) => o.properties)) {
      const props: Json = {}
      for (const o of options) Object.assign(props, o.properties as Json)
      const req = options.map((o) => new Set((o.required as string[]) ?? []))
      const required = [...req[0]!].filter((k) => req.every((r) => r.has(k)))
      Object.assign(out, { type: 'object', properties: props }, required.length ? { required } : {})
      if (options.every((o) => ((o.required as string[]) ?? []).length === 1 && Object.keys(o.properties as Json).length === 1)) {
        Object.assign(out, { minProperties: 1, maxProperties: 1 })
        notes.push(`Exactly one of ${Object.keys(props).join(', ')}.`)
      }
    } else if (types.length === 2 && types.includes('integer') && types.includes('string')) {
      Object.assign(out, { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true })
    } else {
      out['x-kubernetes-preserve-unknown-fields'] = true
      notes.push(`One of: ${options.map(describeShape).join('; ')}.`)
    }
  } else {
    const t = typeOf(s)
    if (!t) {
      out['x-kubernetes-preserve-unknown-fields'] = true
    } else {
      out.type = t
      if (t === 'object') {
        if (s.properties) {
          const props: Json = {}
          for (const [k, v] of Object.entries(s.properties as Json)) props[k] = structural(v as Json)
          out.properties = props
        }
        if (s.additionalProperties && typeof s.additionalProperties === 'object') out.additionalProperties = structural(s.additionalProperties as Json)
        if (!s.properties && !out.additionalProperties) out['x-kubernetes-preserve-unknown-fields'] = true
        if (Array.isArray(s.required) && s.required.length) out.required = s.required
      } else if (t === 'array') {
        out.items = structural((s.items as Json) ?? {})
        if (typeof s.minItems === 'number') out.minItems = s.minItems
        if (typeof s.maxItems === 'number') out.maxItems = s.maxItems
      } else if (t === 'string') {
        if (Array.isArray(s.enum)) {
          out.pattern = caseBlind(s.enum as string[])
          notes.push(`One of ${(s.enum as string[]).join(', ')} (any case).`)
        } else if (typeof s.pattern === 'string' && !s.format && !/\(\?[=!<]|\\[1-9]/.test(s.pattern)) out.pattern = s.pattern
        if (typeof s.format === 'string' && ['uri', 'date-time', 'email'].includes(s.format)) out.format = s.format
        if (typeof s.minLength === 'number') out.minLength = s.minLength
        if (typeof s.maxLength === 'number') out.maxLength = s.maxLength
      } else if (t === 'integer' || t === 'number') {
        const safe = (n: unknown) => typeof n === 'number' && Math.abs(n) < Number.MAX_SAFE_INTEGER
        if (safe(s.minimum)) out.minimum = s.minimum
        if (safe(s.maximum)) out.maximum = s.maximum
        if (safe(s.exclusiveMinimum)) Object.assign(out, { minimum: s.exclusiveMinimum, exclusiveMinimum: true })
        if (safe(s.exclusiveMaximum)) Object.assign(out, { maximum: s.exclusiveMaximum, exclusiveMaximum: true })
      }
      if ('const' in s) out.enum = [s.const]
    }
  }
  if (notes.length) out.description = notes.join(' ')
  return out
}

function describeShape(o: Json): string {
  if (o['x-kubernetes-int-or-string']) return 'an integer or a string'
  const t = typeOf(o)
  if (t === 'object' && o.properties) return `an object {${Object.keys(o.properties as Json).join(', ')}}`
  if (t === 'array') return `a list of ${typeOf(o.items as Json) ?? 'values'}s`
  if (t === 'string' && o.pattern) return `a string matching ${o.pattern}`
  return t ? `a ${t}` : 'any value'
}

export function specSchema(k: KindInfo): Json {
  return structural(z.toJSONSchema(k.spec, { io: 'input', unrepresentable: 'any' }) as Json)
}

export function crdObject(k: KindInfo, group = GROUP): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${group}`, labels: { 'app.kubernetes.io/part-of': 'kortex' } },
    spec: {
      group,
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.singular, shortNames: k.shortNames, categories: ['kortex'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${k.kind} (Kortex). Fields: the Kortex README, "Resources". Generated from src/config/schema.ts by npm run gen:crds.`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(k),
                status: { type: 'object', properties: k.status },
              },
            },
          },
        },
      ],
    },
  }
}

/** File name → YAML text, as committed under k8s/crds/. */
export function generateCrds(): Map<string, string> {
  const header = '# Generated from src/config/schema.ts by `npm run gen:crds`. Do not edit by hand.\n'
  const files = new Map<string, string>()
  for (const k of KINDS) files.set(`${k.plural}.${GROUP}.yaml`, header + stringify(crdObject(k), { lineWidth: 0 }))
  files.set('kustomization.yaml', header + stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: KINDS.map((k) => `${k.plural}.${GROUP}.yaml`) }))
  // The old operator's group, same schema: for clusters that still hold its resources (controller: KORTEX_LEGACY_GROUP=1).
  const legacy = '# The old operator\'s API group, gateway.inference-gateway.io, with the same schema. Install only where its resources still live.\n'
  for (const k of KINDS) files.set(`legacy/${k.plural}.${LEGACY_GROUP}.yaml`, header + legacy + stringify(crdObject(k, LEGACY_GROUP), { lineWidth: 0 }))
  files.set('legacy/kustomization.yaml', header + stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: KINDS.map((k) => `${k.plural}.${LEGACY_GROUP}.yaml`) }))
  return files
}
