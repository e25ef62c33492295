// From what the cluster holds (Kortex resources, the Secrets they name, KServe
// InferenceServices) to one config document every gateway pulls, plus the
// status conditions of every resource. Validation and compilation are the
// gateway's own (parseConfigText, compileConfig), so what the controller
// accepts is exactly what a gateway will run.
//
// An invalid resource never reaches the edges: a resource that fails
// validation, or names something that does not exist, is left out — or, when
// an earlier generation of it was accepted, that generation keeps serving —
// and its conditions say why. The rest of the config keeps working. The
// accepted generation is kept in the resource's own status (lastAccepted,
// written by the leader), so a restarted controller and every replica serve
// the same one.
import { createHash } from 'node:crypto'
import { clusterSecretKey, compileConfig, type CompiledConfig } from '../../src/config/compile.ts'
import { ConfigError, parseConfigText, type ConfigProblem, type LoadedDocument } from '../../src/config/load.ts'
import type { ConfigDocument } from '../../src/config/pull.ts'
import { ALLOW_EMPTY } from '../../src/config/guard.ts'
import { secretRefsOf, secretRefsOfRoute } from '../../src/config/schema.ts'
import { modelTest } from '../../src/config/compile-route.ts'
import { olderFirst, settleModelClaims, type ClaimOutcome, type ModelClaim } from './model-claims.ts'

export const KORTEX_API_VERSION = 'gateway.kortex.io/v1alpha1'

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; [k: string]: unknown }
  spec?: any
  status?: any
  data?: Record<string, string>
}

export interface ClusterView {
  /** Kortex resources (InferenceBackend, InferenceRoute, InferenceExperiment, GatewayConfig), each with its kind set. */
  resources: KubeObject[]
  secret(namespace: string, name: string): KubeObject | undefined
  /** The API server refused to let the controller read this Secret (403). */
  secretForbidden?(namespace: string, name: string): boolean
  inferenceService(namespace: string, name: string): KubeObject | undefined
}

export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason: string
  message: string
  observedGeneration?: number
}

export interface ResourceStatus {
  group: string
  kind: string
  namespace: string
  name: string
  generation?: number
  conditions: Condition[]
  /** Kind-specific status fields (a backend's url, a route's phase). */
  fields: Record<string, unknown>
}

export interface Snapshot {
  document: ConfigDocument
  version: string
  compiled: CompiledConfig
  /** By `${kind}/${namespace}/${name}`. */
  statuses: Map<string, ResourceStatus>
  warnings: string[]
}

export const LEGACY_GROUP = 'gateway.inference-gateway.io'

/** The API group of a Kortex resource: gateway.kortex.io, or the old operator's group. */
export const groupOf = (o: { apiVersion?: string }) => (o.apiVersion?.startsWith(`${LEGACY_GROUP}/`) ? LEGACY_GROUP : 'gateway.kortex.io')

/** `Kind/namespace/name`; a resource of the old operator's group is `Kind@gateway.inference-gateway.io/namespace/name`. */
export const keyOf = (o: { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string } }) =>
  `${o.kind}${groupOf(o) === LEGACY_GROUP ? `@${LEGACY_GROUP}` : ''}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`

interface Candidate {
  key: string
  obj: KubeObject
  /** What goes into the document: the resource as the gateway reads it. */
  exported: Record<string, unknown>
  doc: LoadedDocument['resource']
  previous: boolean
}

interface Notes {
  /** Left out by policy, not for what it says (a GatewayConfig outside the allowed namespaces). */
  refused?: { reason: string; message: string }
  invalid: ConfigProblem[]
  refs: ConfigProblem[]
  refReason?: string
  servedPrevious?: number
  kserve?: { url?: string; ready: boolean; reason: string; message: string }
  secretProblem?: { reason: 'SecretNotFound' | 'SecretForbidden'; message: string }
  /** A route's models that an older route keeps (model -> that route), and the ones it keeps from others. */
  lostModels?: Map<string, string>
  keptModels?: Map<string, string[]>
}

const describe = (p: ConfigProblem) => `${p.path ? `${p.path}: ` : ''}${p.message}`

export interface SnapshotOptions {
  /**
   * Namespaces whose GatewayConfig is accepted. It holds gateway-wide settings (API keys, open auth),
   * so a tenant who can write resources in its own namespace must not be able to replace it.
   */
  gatewayConfigNamespaces?: readonly string[]
}

interface Accepted {
  exported: Record<string, unknown>
  generation?: number
  doc: LoadedDocument['resource']
}

/** Compiles cluster state into snapshots; remembers each resource's last accepted generation. */
export class SnapshotBuilder {
  /** What this process accepted; status.lastAccepted (the API server's copy) wins when it is as new. */
  #lastGood = new Map<string, Accepted>()
  #gatewayConfigNamespaces: ReadonlySet<string>

  constructor(o: SnapshotOptions = {}) {
    this.#gatewayConfigNamespaces = new Set(o.gatewayConfigNamespaces ?? ['default'])
  }

  async build(view: ClusterView): Promise<Snapshot> {
    const notes = new Map<string, Notes>()
    const note = (k: string) => notes.get(k) ?? (notes.set(k, { invalid: [], refs: [] }), notes.get(k)!)
    const resources = [...view.resources].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
    let candidates: Candidate[] = []

    for (const obj of resources) {
      const key = keyOf(obj)
      const n = note(key)
      const ns = obj.metadata.namespace ?? 'default'
      if (obj.kind === 'GatewayConfig' && !this.#gatewayConfigNamespaces.has(ns)) {
        const allowed = [...this.#gatewayConfigNamespaces].join(', ')
        n.refused = { reason: 'NamespaceNotAllowed', message: `A GatewayConfig is accepted only in namespace ${allowed} (the controller's settings say which); this one is ignored` }
        continue
      }
      let c: Candidate | undefined
      try {
        c = { key, obj, ...exportOf(view, obj, obj.spec, n), previous: false }
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        n.invalid.push(...err.problems)
      }
      if (c && !(n.refused = this.#refusal(c))) {
        candidates.push(c)
        continue
      }
      // Invalid, or refused by policy: the last accepted generation keeps serving, if there is one the policy allows.
      const last = this.#previousOf(view, obj)
      if (last && !this.#refusal({ key, obj, ...last, previous: true })) {
        candidates.push({ key, obj, exported: last.exported, doc: last.doc, previous: true })
        n.servedPrevious = last.generation
      }
    }

    // Compile; whatever a problem is attributed to falls back to its last good generation, or out.
    let compiled: CompiledConfig | undefined
    let secrets: Record<string, string> = {}
    let live = candidates // what goes into the document: candidates less the model names older routes keep
    let claims: ClaimOutcome | undefined
    for (let round = 0; round <= resources.length + 1 && !compiled; round++) {
      claims = settleModelClaims(candidates.filter((c) => c.doc.kind === 'InferenceRoute').map(claimOf))
      live = routesByAge(withoutLostModels(candidates, claims))
      secrets = {}
      for (const c of live) {
        // A backend's Secrets, and those of the backends a route writes inline (the design article's shape).
        const refs = c.doc.kind === 'InferenceBackend' ? secretRefsOf(c.doc.spec.external) : c.doc.kind === 'InferenceRoute' ? secretRefsOfRoute(c.doc.spec) : []
        if (!refs.length) continue
        const ns = c.doc.metadata.namespace ?? 'default'
        note(c.key).secretProblem = undefined
        for (const ref of refs) {
          const value = view.secret(ns, ref.name)?.data?.[ref.key]
          if (value === undefined) note(c.key).secretProblem ??= secretProblem(view, ns, ref)
          // Keyed by namespace: a backend can only ever be handed a Secret of its own namespace.
          else secrets[clusterSecretKey(ns, ref)] = Buffer.from(value, 'base64').toString('utf8')
        }
      }
      try {
        const docs = live.map((c, i) => ({ index: i + 1, resource: c.doc }))
        compiled = await compileConfig(docs, () => undefined, 'cluster config', (ns, ref) => secrets[clusterSecretKey(ns, ref)])
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        const hit = new Map<Candidate, ConfigProblem[]>()
        for (const p of err.problems) {
          let c = live[p.doc - 1]
          if (p.doc === 0) {
            // "experiment "ns/name" is defined N times": the InferenceExperiment resource gives way.
            const m = /experiment "([^/"]+)\/([^"]+)"/.exec(p.message)
            c = m ? live.find((x) => x.key === `InferenceExperiment/${m[1]}/${m[2]}`) : undefined
          }
          if (!c) throw err
          hit.set(c, [...(hit.get(c) ?? []), p])
        }
        for (const [c, ps] of hit) {
          for (const p of ps) {
            if (p.message === 'defined twice' && groupOf(c.obj) === LEGACY_GROUP) {
              p.message = `${c.obj.kind} ${c.doc.metadata.namespace ?? 'default'}/${c.obj.metadata.name} is defined twice: also in gateway.kortex.io, which wins; delete this one from ${LEGACY_GROUP}`
            }
          }
        }
        // A name that exists in the cluster but is not accepted reads better than "not defined".
        for (const ps of hit.values()) {
          for (const p of ps) {
            const m = /^backend "([^"]+)" is not defined \(no InferenceBackend named "[^"]+" in namespace ([^)]+)\)$/.exec(p.message)
            if (m && resources.some((r) => r.kind === 'InferenceBackend' && r.metadata.name === m[1] && (r.metadata.namespace ?? 'default') === m[2])) {
              p.message = `backend "${m[1]}" is not in the served config (InferenceBackend ${m[2]}/${m[1]} exists but is not accepted: see its conditions)`
            }
          }
        }
        const next: Candidate[] = []
        const byKey = new Map([...hit].map(([c, ps]) => [c.key, ps]))
        candidates.forEach((c) => {
          const problems = byKey.get(c.key)
          if (!problems) return void next.push(c)
          const n = note(c.key)
          for (const p of problems) if (!n.refs.some((q) => describe(q) === describe(p))) n.refs.push(p)
          n.refReason = problems.some((p) => /^backend "/.test(p.message)) ? 'BackendNotFound' : problems.some((p) => /route .* is not defined/.test(p.message)) ? 'RouteNotFound' : 'Conflict'
          const last = this.#previousOf(view, c.obj)
          if (!c.previous && last && !this.#refusal({ ...c, ...last })) {
            next.push({ ...c, exported: last.exported, doc: last.doc, previous: true })
            n.servedPrevious = last.generation
          } else n.servedPrevious = undefined
        })
        candidates = next
      }
    }
    if (!compiled) throw new Error('the cluster config did not compile')

    const served = new Set(live.map((c) => c.key))
    for (const [key, lost] of claims?.lost ?? []) note(key).lostModels = lost
    for (const [key, kept] of claims?.kept ?? []) note(key).keptModels = kept
    const present = new Set(resources.map(keyOf))
    const acceptedNow = new Set(candidates.filter((c) => !c.previous).map((c) => c.key))
    for (const c of candidates) if (!c.previous) this.#lastGood.set(c.key, { exported: c.exported, generation: c.obj.metadata.generation, doc: c.doc })
    for (const k of this.#lastGood.keys()) if (!present.has(k)) this.#lastGood.delete(k) // deleted resources leave the config for good

    const docResources = live.map((c) => c.exported)
    const sortedSecrets = Object.fromEntries(Object.entries(secrets).sort(([a], [b]) => (a < b ? -1 : 1)))
    const version = createHash('sha256').update(JSON.stringify({ r: docResources, s: sortedSecrets })).digest('hex').slice(0, 16)
    const document: ConfigDocument = { kind: 'KortexConfig', version, resources: docResources, secrets: sortedSecrets }

    const statuses = new Map<string, ResourceStatus>()
    for (const obj of resources) {
      const key = keyOf(obj)
      const n = note(key)
      statuses.set(key, statusOf(obj, n, served.has(key), compiled))
      // The API server keeps what was accepted: after a restart, and on every replica, it is what serves while a newer generation is invalid.
      if (acceptedNow.has(key) && obj.metadata.generation !== undefined) statuses.get(key)!.fields.lastAccepted = { generation: obj.metadata.generation, spec: obj.spec ?? {} }
    }
    seedConditions(resources, statuses, notes)
    return { document, version, compiled, statuses, warnings: compiled.warnings }
  }

  /**
   * A route that takes any model (none listed, no rule's model condition, or one that matches every
   * name) serves whatever no other route does: outside the platform's namespaces it would take every
   * other team's unknown or mistyped models, prompts included, to its own backends.
   */
  #refusal(c: Candidate): Notes['refused'] {
    const ns = c.doc.metadata.namespace ?? 'default'
    if (c.doc.kind !== 'InferenceRoute' || this.#gatewayConfigNamespaces.has(ns) || !takesAnyModel(c.doc.spec)) return undefined
    const allowed = [...this.#gatewayConfigNamespaces].join(', ')
    return {
      reason: 'CatchAllNotAllowed',
      message:
        `A route that serves any model (no spec.models and no rule with a model condition, or a rule whose model condition every name matches) is accepted only in namespace ${allowed} ` +
        `(the controller's settings say which): here it would take every model no other route serves, other teams' included. List the models it serves in spec.models`,
    }
  }

  /** The newest accepted generation before this one: the resource's status.lastAccepted, else this process's memory. */
  #previousOf(view: ClusterView, obj: KubeObject): Accepted | undefined {
    const mem = this.#lastGood.get(keyOf(obj))
    const st = obj.status?.lastAccepted as { generation?: unknown; spec?: unknown } | undefined
    const g = st?.generation
    if (typeof g !== 'number' || !Number.isInteger(g) || !st!.spec || typeof st!.spec !== 'object') return mem
    if (g > (obj.metadata.generation ?? Infinity) || (mem?.generation ?? -1) > g) return mem
    try {
      return { ...exportOf(view, obj, st!.spec), generation: g }
    } catch (err) {
      if (err instanceof ConfigError) return mem // it was valid when it was written; a stricter gateway may refuse it now
      throw err
    }
  }
}

/** The resource as the gateway reads it (a kserve backend with its InferenceService's address), validated; throws ConfigError. */
function exportOf(view: ClusterView, obj: KubeObject, rawSpec: unknown, n?: Notes): Pick<Candidate, 'exported' | 'doc'> {
  const ns = obj.metadata.namespace ?? 'default'
  const spec = structuredClone(rawSpec ?? {}) as any
  if (obj.kind === 'InferenceBackend' && typeof spec.type === 'string' && spec.type.toLowerCase() === 'kserve' && spec.kserve && typeof spec.kserve === 'object') {
    const ks = resolveKServe(view, spec.kserve, ns)
    if (n) n.kserve = ks
    if (ks.url && !spec.kserve.url) spec.kserve.url = ks.url
  }
  const metadata: Record<string, unknown> = { name: obj.metadata.name, namespace: ns }
  // The platform's GatewayConfig may say that emptying the gateway is meant (guard.ts): the gateways must see it.
  const annotations = obj.metadata.annotations as Record<string, unknown> | undefined
  if (obj.kind === 'GatewayConfig' && annotations?.[ALLOW_EMPTY] !== undefined) metadata.annotations = { [ALLOW_EMPTY]: annotations[ALLOW_EMPTY] }
  const exported = { apiVersion: KORTEX_API_VERSION, kind: obj.kind, metadata, spec }
  const [loaded] = parseConfigText(JSON.stringify(exported), keyOf(obj))
  return { exported, doc: loaded!.resource }
}

const modelsOf = (c: Candidate) => (c.doc.spec as { models?: string[] }).models ?? []

const claimOf = (c: Candidate): ModelClaim => ({ key: c.key, name: `${c.doc.metadata.namespace ?? 'default'}/${c.doc.metadata.name}`, created: c.obj.metadata.creationTimestamp as string | Date | undefined, models: modelsOf(c), serves: servesOf(c) })

/** What the route's rules' model conditions take, if any has one; one that takes every name claims none (a catch-all). */
function servesOf(c: Candidate): ((model: string) => boolean) | undefined {
  const tests = ((c.doc.spec as { rules?: Array<{ match?: Match }> }).rules ?? []).flatMap((r) => (anyName(r.match) ? [] : (modelTest(r.match) ?? [])))
  return tests.length ? (m) => tests.some((t) => t(m)) : undefined
}

/** Each route without the model names an older route keeps; a route left with none is out (with no models it would serve every model). */
function withoutLostModels(candidates: Candidate[], claims: ClaimOutcome): Candidate[] {
  return candidates.flatMap((c) => {
    const lost = claims.lost.get(c.key)
    if (!lost) return [c]
    const models = modelsOf(c).filter((m) => !lost.has(m))
    if (!models.length) return []
    return [{ ...c, doc: { ...c.doc, spec: { ...c.doc.spec, models } } as Candidate['doc'], exported: { ...c.exported, spec: { ...(c.exported.spec as object), models } } }]
  })
}

type RouteSpec = Extract<Candidate['doc'], { kind: 'InferenceRoute' }>['spec']

/** Whether a route serves every model name: it lists none and has no model condition, or a rule's model condition matches any name. */
function takesAnyModel(spec: RouteSpec): boolean {
  const conditions = (spec.rules ?? []).map((r) => r.match).filter((m) => m && (m.model !== undefined || m.modelPrefix !== undefined || m.modelPattern !== undefined))
  return (!spec.models?.length && !conditions.length) || conditions.some(anyName)
}

type Match = Parameters<typeof modelTest>[0]

/** A model condition every name matches (or none at all). */
const anyName = (m: Match) => !m || (m.model === undefined && !m.modelPrefix && (m.modelPattern === undefined || /^\**$/.test(m.modelPattern)))

/**
 * Routes in the order they were created, older first (creationTimestamp, then namespace/name): the
 * gateway tries model patterns and catch-alls in document order, so an older route keeps the models
 * it serves by pattern, whatever the namespaces are called. A route of the old operator's group that has a
 * gateway.kortex.io twin sits right after it (the twin wins, "defined twice"). Other kinds keep their place.
 */
function routesByAge(cs: Candidate[]): Candidate[] {
  const isRoute = (c: Candidate) => c.doc.kind === 'InferenceRoute'
  const routes = cs.filter(isRoute)
  const current = new Map(routes.filter((c) => groupOf(c.obj) !== LEGACY_GROUP).map((c) => [claimOf(c).name, c]))
  const sortKey = (c: Candidate): ModelClaim => {
    const twin = groupOf(c.obj) === LEGACY_GROUP ? current.get(claimOf(c).name) : undefined
    return { ...claimOf(twin ?? c), key: c.key }
  }
  const sorted = routes.map((c) => ({ c, k: sortKey(c) })).sort((a, b) => olderFirst(a.k, b.k)).map((x) => x.c)
  let i = 0
  return cs.map((c) => (isRoute(c) ? sorted[i++]! : c))
}

function secretProblem(view: ClusterView, ns: string, ref: { name: string; key: string }): NonNullable<Notes['secretProblem']> {
  if (view.secretForbidden?.(ns, ref.name)) {
    return {
      reason: 'SecretForbidden',
      message:
        `The controller may not read Secret ${ns}/${ref.name} (403 Forbidden); requests to this backend get 503 until it can. ` +
        `Add to a Role in namespace ${ns} bound to the controller's ServiceAccount: {apiGroups: [""], resources: [secrets], resourceNames: [${ref.name}], verbs: [get, list, watch]}`,
    }
  }
  return { reason: 'SecretNotFound', message: `Secret ${ns}/${ref.name} has no key "${ref.key}" (or does not exist); requests to this backend get 503 until it does` }
}

function resolveKServe(view: ClusterView, ks: { serviceName?: unknown; namespace?: unknown; url?: unknown }, ns: string): NonNullable<Notes['kserve']> {
  const isvcNs = typeof ks.namespace === 'string' ? ks.namespace : ns
  const name = String(ks.serviceName ?? '')
  const isvc = view.inferenceService(isvcNs, name)
  if (!isvc) return { ready: false, reason: 'InferenceServiceNotFound', message: `InferenceService ${isvcNs}/${name} not found; using its conventional address until it exists` }
  const ready = (isvc.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready')
  const url = typeof isvc.status?.address?.url === 'string' ? isvc.status.address.url : typeof isvc.status?.url === 'string' ? isvc.status.url : undefined
  if (ready?.status === 'True') return { url, ready: true, reason: 'InferenceServiceReady', message: `InferenceService ${isvcNs}/${name} is ready at ${url ?? 'its conventional address'}` }
  return { url, ready: false, reason: 'InferenceServiceNotReady', message: `InferenceService ${isvcNs}/${name} is not ready${ready?.message ? `: ${ready.message}` : ''}` }
}

function statusOf(obj: KubeObject, n: Notes, served: boolean, compiled: CompiledConfig): ResourceStatus {
  const g = obj.metadata.generation
  const cond = (type: string, ok: boolean | 'Unknown', reason: string, message: string): Condition => ({
    type,
    status: ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False',
    reason,
    message,
    ...(g !== undefined ? { observedGeneration: g } : {}),
  })
  const conditions: Condition[] = []
  const fields: Record<string, unknown> = {}
  // The Secret is there but its value is no credential (a Vertex key that is not a service-account key file).
  const backend = obj.kind === 'InferenceBackend' ? compiled.backends.get(`${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`) : undefined
  // Only for a Secret it names: a Bedrock backend without any reads the gateway's own AWS identity, which the controller cannot see.
  const unusable = served && !n.secretProblem && backend?.missingSecret && secretRefsOf(backend.spec.external).length
    ? { reason: 'SecretInvalid', message: `The credential is unusable: ${backend.missingSecret}; requests to this backend get 503 until it is fixed` }
    : undefined
  const secretIssue = n.secretProblem ?? unusable
  const keeps = n.servedPrevious !== undefined ? ` The config keeps serving generation ${n.servedPrevious ?? 'the previous one'}.` : served ? '' : ' It is not in the served config.'
  if (n.refused) conditions.push(cond('Accepted', false, n.refused.reason, n.refused.message + (n.servedPrevious !== undefined ? `.${keeps}` : '')))
  else if (n.invalid.length) conditions.push(cond('Accepted', false, 'Invalid', n.invalid.map(describe).join('; ') + keeps))
  else conditions.push(cond('Accepted', true, 'Accepted', 'The resource is valid'))
  if (n.refused) conditions.push(cond('ResolvedRefs', 'Unknown', n.refused.reason, 'The resource is not accepted'))
  else if (n.invalid.length) conditions.push(cond('ResolvedRefs', 'Unknown', 'Invalid', 'The resource is invalid'))
  else if (n.refs.length) conditions.push(cond('ResolvedRefs', false, n.refReason ?? 'RefNotResolved', n.refs.map(describe).join('; ') + keeps))
  else if (secretIssue) conditions.push(cond('ResolvedRefs', false, secretIssue.reason, secretIssue.message))
  else if (n.kserve && !n.kserve.url && n.kserve.reason === 'InferenceServiceNotFound') conditions.push(cond('ResolvedRefs', false, n.kserve.reason, n.kserve.message))
  else conditions.push(cond('ResolvedRefs', true, 'ResolvedRefs', 'Every reference resolves'))
  const current = served && n.servedPrevious === undefined && !n.invalid.length && !n.refs.length
  const lost = n.lostModels && [...n.lostModels].map(([m, by]) => `model "${m}" is also ${by}, which is older and keeps it`).join('; ')
  if (!served && lost && !n.invalid.length && !n.refs.length) conditions.push(cond('Ready', false, 'ModelConflict', `${lost}; this route serves none of its models`))
  else if (!served) conditions.push(cond('Ready', false, 'NotServed', 'Not in the served config: see Accepted and ResolvedRefs'))
  else if (!current) conditions.push(cond('Ready', false, 'ServingPreviousGeneration', `The served config holds generation ${n.servedPrevious ?? '?'} of this resource, not the current one`))
  else if (n.kserve && !n.kserve.ready) conditions.push(cond('Ready', false, n.kserve.reason, n.kserve.message))
  else if (secretIssue) conditions.push(cond('Ready', false, secretIssue.reason, secretIssue.message))
  else if (lost) conditions.push(cond('Ready', false, 'ModelConflict', `${lost}; this route does not serve it`))
  else conditions.push(cond('Ready', true, 'Serving', 'Served in the compiled config'))
  if (obj.kind === 'InferenceRoute') {
    const kept = n.keptModels && [...n.keptModels].map(([m, by]) => `model "${m}" is also listed by InferenceRoute ${by.join(', ')}; this route is older and keeps it`).join('; ')
    if (lost || kept) conditions.push(cond('ModelConflict', true, lost ? 'ModelTaken' : 'ModelKept', [lost, kept].filter(Boolean).join('; ')))
    else conditions.push(cond('ModelConflict', false, 'NoConflict', 'No other route lists its models'))
  }

  if (backend && served) fields.url = backend.rootUrl
  if (obj.kind === 'InferenceRoute') {
    const ready = conditions.find((c) => c.type === 'Ready')!
    fields.phase = !served ? 'Failed' : ready.status === 'True' ? 'Active' : 'Degraded'
    const r = compiled.routes.find((x) => x.name === obj.metadata.name && x.namespace === (obj.metadata.namespace ?? 'default'))
    if (r) fields.activeBackends = new Set([r.defaultBackend?.name, ...r.rules.flatMap((x) => x.backends.filter((b) => b.weight > 0).map((b) => b.name))].filter(Boolean)).size
  }
  return { group: groupOf(obj), kind: obj.kind!, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name, generation: g, conditions, fields }
}

/**
 * The old operator's conditions, kept for dashboards and scripts written for it:
 * a route's RouteValid (= Accepted) and BackendsReady (every backend it names is
 * Ready), a backend's Healthy and `health` (KServe: the InferenceService's
 * readiness; otherwise each gateway probes on its own: Unknown here).
 */
function seedConditions(resources: KubeObject[], statuses: Map<string, ResourceStatus>, notes: Map<string, Notes>): void {
  for (const obj of resources) {
    const st = statuses.get(keyOf(obj))!
    const g = obj.metadata.generation
    const add = (c: Omit<Condition, 'observedGeneration'>) => st.conditions.push({ ...c, ...(g !== undefined ? { observedGeneration: g } : {}) })
    if (obj.kind === 'InferenceBackend') {
      const ks = notes.get(keyOf(obj))?.kserve
      if (ks) add({ type: 'Healthy', status: ks.ready ? 'True' : 'False', reason: ks.reason, message: ks.message })
      else add({ type: 'Healthy', status: 'Unknown', reason: 'CheckedByGateways', message: 'Each gateway checks its backends itself (GET /v1/status on a gateway)' })
      st.fields.health = ks ? (ks.ready ? 'Healthy' : 'Unhealthy') : 'Unknown'
    }
    if (obj.kind === 'InferenceRoute') {
      const accepted = st.conditions.find((c) => c.type === 'Accepted')!
      add({ type: 'RouteValid', status: accepted.status, reason: accepted.reason, message: accepted.message })
      const ns = obj.metadata.namespace ?? 'default'
      const spec = obj.spec ?? {}
      const named = new Set<string>(
        [spec.defaultBackend?.name, ...(spec.rules ?? []).flatMap((r: any) => (r?.backends ?? []).map((b: any) => b?.name)), ...(spec.fallback?.backends ?? []), ...(spec.failover?.chain ?? [])].filter(
          (x): x is string => typeof x === 'string',
        ),
      )
      const notReady = [...named].filter((b) => (statuses.get(`InferenceBackend/${ns}/${b}`) ?? statuses.get(`InferenceBackend@${LEGACY_GROUP}/${ns}/${b}`))?.conditions.find((c) => c.type === 'Ready')?.status !== 'True')
      add(
        notReady.length
          ? { type: 'BackendsReady', status: 'False', reason: 'BackendsNotReady', message: `Not ready: ${notReady.join(', ')}` }
          : { type: 'BackendsReady', status: 'True', reason: 'BackendsReady', message: `All ${named.size} backends are ready` },
      )
    }
  }
}
