// The Kortex controller: informers on the Kortex resources, the Secrets they
// reference and KServe InferenceServices; every change (debounced) rebuilds
// the config snapshot, publishes it on GET /config, and — on the leader —
// writes each resource's status with merge-patch.
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import { ConfigServer } from './server.ts'
import { Informer } from './informers.ts'
import { LeaderElector } from './leader.ts'
import { ApiServerReachability } from './reachability.ts'
import { Metrics } from './metrics.ts'
import { LEGACY_GROUP, SnapshotBuilder, keyOf, type Condition, type KubeObject, type ResourceStatus, type Snapshot } from './snapshot.ts'
import { secretRefsOf, secretRefsOfRoute } from '../../src/config/schema.ts'

export const KORTEX_RESOURCES = [
  { kind: 'InferenceBackend', plural: 'inferencebackends' },
  { kind: 'InferenceRoute', plural: 'inferenceroutes' },
  { kind: 'InferenceExperiment', plural: 'inferenceexperiments' },
  { kind: 'GatewayConfig', plural: 'gatewayconfigs' },
] as const

const GROUP = 'gateway.kortex.io'
const VERSION = 'v1alpha1'

export interface ControllerOptions {
  kc: KubeConfig
  /** Watch one namespace only (a namespaced install); all namespaces when absent. */
  namespace?: string
  /**
   * Namespaces whose GatewayConfig is accepted; one elsewhere gets Accepted=False (NamespaceNotAllowed).
   * Default: the controller's own namespace (the Lease's, else the kubeconfig context's, else "default").
   */
  gatewayConfigNamespaces?: string[]
  /** Bearer tokens gateways present at GET /config. */
  tokens: string[]
  port?: number
  host?: string
  /** Lease for leader election; without it this replica always writes status. */
  leaderElection?: { namespace: string; name?: string; identity: string; leaseSeconds?: number; retryMs?: number }
  /** Coalesce bursts of changes into one rebuild. */
  debounceMs?: number
  /** Also watch the old operator's group, gateway.inference-gateway.io (its CRDs: k8s/crds/legacy/). A name in both groups: gateway.kortex.io wins. */
  legacyGroup?: boolean
  /** Watch KServe InferenceServices (serving.kserve.io/v1beta1). Default true. */
  kserve?: boolean
  log?: (line: string, fields?: Record<string, unknown>) => void
  informerRestartMs?: number
}

export class KortexController {
  readonly metrics = new Metrics()
  readonly server: ConfigServer
  #builder: SnapshotBuilder
  #custom: CustomObjectsApi
  #core: CoreV1Api
  #informers = new Map<string, Informer<KubeObject & { kind?: string }>>()
  #isvc: Informer<KubeObject> | undefined
  #secrets = new Map<string, Informer<KubeObject>>() // `${ns}/${name}`
  #secretStarts = new Map<string, Promise<void>>()
  #leader: LeaderElector | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #building: Promise<void> | undefined
  #again = false
  #stopped = false
  #api: ApiServerReachability
  snapshot: Snapshot | undefined
  lastError: unknown

  constructor(private readonly o: ControllerOptions) {
    this.#custom = o.kc.makeApiClient(CustomObjectsApi)
    this.#core = o.kc.makeApiClient(CoreV1Api)
    const own = o.leaderElection?.namespace ?? o.kc.getContextObject(o.kc.getCurrentContext())?.namespace ?? 'default'
    this.#builder = new SnapshotBuilder({ gatewayConfigNamespaces: o.gatewayConfigNamespaces?.length ? o.gatewayConfigNamespaces : [own] })
    this.server = new ConfigServer({ tokens: o.tokens, metrics: this.metrics, ready: () => this.synced })
    this.#api = new ApiServerReachability(o.kc.getCurrentCluster()?.server ?? '(no server in the kubeconfig)', (l, f) => this.#log(l, f))
  }

  get synced(): boolean {
    return [...this.#informers.values()].every((i) => i.synced)
  }

  get leader(): boolean {
    return this.#leader ? this.#leader.leader : true
  }

  #log(line: string, fields?: Record<string, unknown>): void {
    ;(this.o.log ?? ((l, f) => console.error(JSON.stringify({ time: new Date().toISOString(), msg: l, ...f }))))(line, fields)
  }

  #collection(group: string, version: string, plural: string): string {
    return this.o.namespace ? `/apis/${group}/${version}/namespaces/${this.o.namespace}/${plural}` : `/apis/${group}/${version}/${plural}`
  }

  #listCustom(group: string, version: string, plural: string) {
    return () =>
      this.o.namespace
        ? this.#custom.listNamespacedCustomObject({ group, version, plural, namespace: this.o.namespace })
        : this.#custom.listCustomObjectForAllNamespaces({ group, version, plural })
  }

  /** Starts the informers, the leader election and the HTTP server; resolves once the first lists are in. */
  async start(): Promise<string | undefined> {
    const restarted = (resource: string) => (err: unknown) => {
      this.metrics.inc('kortex_controller_watch_restarts_total', { resource })
      if (!this.#api.failed(err)) this.#log('kortex-controller: watch failed; restarting', { resource, error: String((err as Error)?.message ?? err) })
    }
    const listed = () => this.#api.answered()
    for (const group of this.o.legacyGroup ? [GROUP, LEGACY_GROUP] : [GROUP]) {
      for (const r of KORTEX_RESOURCES) {
        const inf = new Informer<KubeObject>({
          kc: this.o.kc,
          path: this.#collection(group, VERSION, r.plural),
          list: this.#listCustom(group, VERSION, r.plural),
          changed: () => this.schedule(),
          onRestart: restarted(group === GROUP ? r.plural : `${r.plural}.${group}`),
          onListed: listed,
          restartMs: this.o.informerRestartMs,
        })
        this.#informers.set(`${group}|${r.kind}`, inf)
      }
    }
    if (this.o.kserve !== false) {
      this.#isvc = new Informer<KubeObject>({
        kc: this.o.kc,
        path: this.#collection('serving.kserve.io', 'v1beta1', 'inferenceservices'),
        list: this.#listCustom('serving.kserve.io', 'v1beta1', 'inferenceservices'),
        changed: () => this.schedule(),
        onRestart: restarted('inferenceservices'),
        onListed: listed,
        restartMs: this.o.informerRestartMs,
      })
    }
    if (this.o.leaderElection) {
      const le = this.o.leaderElection
      this.#leader = new LeaderElector({
        kc: this.o.kc,
        namespace: le.namespace,
        name: le.name ?? 'kortex-controller',
        identity: le.identity,
        leaseSeconds: le.leaseSeconds,
        retryMs: le.retryMs,
        onChange: (leader) => {
          this.metrics.set('kortex_controller_leader', leader ? 1 : 0)
          this.#log(leader ? 'kortex-controller: leading (writing status)' : 'kortex-controller: not leading', { identity: le.identity })
          if (leader) this.schedule()
        },
        onError: (err) => this.#api.failed(err) || this.#log('kortex-controller: lease error', { error: String((err as Error)?.message ?? err) }),
      })
      this.metrics.set('kortex_controller_leader', 0)
      this.#leader.start()
    } else this.metrics.set('kortex_controller_leader', 1)
    await Promise.all([...this.#informers.values(), ...(this.#isvc ? [this.#isvc] : [])].map((i) => i.start()))
    await this.rebuild()
    await Promise.all(this.#secretStarts.values()) // the referenced Secrets' first lists
    await this.rebuild()
    return this.o.port === undefined ? undefined : this.server.listen(this.o.port, this.o.host)
  }

  /** Rebuild soon (debounced). */
  schedule(): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.rebuild(), this.o.debounceMs ?? 50)
  }

  /** Builds, publishes, writes status. One build at a time; a change during a build runs another after it. */
  async rebuild(): Promise<void> {
    if (this.#building) {
      this.#again = true
      return this.#building
    }
    this.#building = (async () => {
      do {
        this.#again = false
        await this.#rebuildOnce()
      } while (this.#again && !this.#stopped)
    })().finally(() => (this.#building = undefined))
    return this.#building
  }

  async #rebuildOnce(): Promise<void> {
    if (!this.synced) return
    const resources: KubeObject[] = []
    for (const [key, inf] of this.#informers) {
      const [group, kind] = key.split('|') as [string, string]
      for (const o of inf.list()) resources.push({ ...o, kind, apiVersion: `${group}/${VERSION}` })
    }
    this.#syncSecretInformers(resources)
    // Never publish a config whose Secrets have not been read yet (gateways would drop their keys for a moment).
    if ([...this.#secrets.values()].some((i) => !i.settled)) return
    try {
      const s = await this.#builder.build({
        resources,
        secret: (ns, name) => {
          const inf = this.#secrets.get(`${ns}/${name}`)
          return inf?.forbidden ? undefined : inf?.get(name, ns)
        },
        secretForbidden: (ns, name) => !!this.#secrets.get(`${ns}/${name}`)?.forbidden,
        inferenceService: (ns, name) => this.#isvc?.get(name, ns),
      })
      const changed = s.version !== this.snapshot?.version
      this.snapshot = s
      this.lastError = undefined
      this.server.publish(s.document)
      this.metrics.inc('kortex_controller_config_builds_total', { result: 'ok' })
      this.metrics.reset('kortex_controller_resources')
      for (const st of s.statuses.values()) {
        const ready = st.conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown'
        this.metrics.inc('kortex_controller_resources', { kind: st.kind, ready })
      }
      if (changed) this.#log('kortex-controller: serving config', { version: s.version, resources: s.document.resources.length, warnings: s.warnings })
      if (this.leader) await this.#writeStatuses(resources, s)
    } catch (err) {
      this.lastError = err
      this.metrics.inc('kortex_controller_config_builds_total', { result: 'failed' })
      this.#log('kortex-controller: the cluster config did not compile; the previous config stays', { error: String((err as Error)?.message ?? err) })
    }
  }

  /** One informer per referenced Secret (a field selector on its name): the controller never holds other Secrets. */
  #syncSecretInformers(resources: KubeObject[]): void {
    const want = new Set<string>()
    for (const r of resources) {
      const refs = r.kind === 'InferenceBackend' ? secretRefsOf(r.spec?.external) : r.kind === 'InferenceRoute' ? secretRefsOfRoute(r.spec) : []
      for (const ref of refs) if (typeof ref.name === 'string') want.add(`${r.metadata.namespace ?? 'default'}/${ref.name}`)
    }
    for (const [k, inf] of this.#secrets) if (!want.has(k)) (inf.stop(), this.#secrets.delete(k), this.#secretStarts.delete(k))
    for (const k of want) {
      if (this.#secrets.has(k)) continue
      const [namespace, name] = k.split('/') as [string, string]
      const fieldSelector = `metadata.name=${name}`
      const inf = new Informer<KubeObject>({
        kc: this.o.kc,
        path: `/api/v1/namespaces/${namespace}/secrets`,
        fieldSelector,
        list: () => this.#core.listNamespacedSecret({ namespace, fieldSelector }) as never,
        changed: () => this.schedule(),
        onRestart: (err) => {
          this.metrics.inc('kortex_controller_watch_restarts_total', { resource: 'secrets' })
          if (!this.#api.failed(err)) this.#log('kortex-controller: secret watch failed; restarting', { secret: k, error: String((err as Error)?.message ?? err) })
        },
        onListed: () => this.#api.answered(),
        restartMs: this.o.informerRestartMs,
      })
      this.#secrets.set(k, inf)
      this.#secretStarts.set(k, inf.start())
    }
  }

  async #writeStatuses(resources: KubeObject[], s: Snapshot): Promise<void> {
    const byKey = new Map(resources.map((r) => [keyOf(r), r]))
    for (const [key, st] of s.statuses) {
      const live = byKey.get(key)
      if (!live) continue
      const status = desiredStatus(live, st)
      if (!status) continue
      const plural = KORTEX_RESOURCES.find((r) => r.kind === st.kind)!.plural
      try {
        await this.#custom.patchNamespacedCustomObjectStatus(
          { group: st.group, version: VERSION, namespace: st.namespace, plural, name: st.name, body: { status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        this.metrics.inc('kortex_controller_status_patches_total', { result: 'ok' })
      } catch (err) {
        const code = (err as { code?: number }).code
        this.metrics.inc('kortex_controller_status_patches_total', { result: code === 404 ? 'gone' : 'failed' })
        if (code !== 404) this.#log('kortex-controller: status patch failed', { resource: key, error: String((err as Error)?.message ?? err) })
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    for (const i of [...this.#informers.values(), ...this.#secrets.values(), ...(this.#isvc ? [this.#isvc] : [])]) i.stop()
    await this.#building
    await this.#leader?.stop()
    await this.server.close()
  }
}

/** The merge-patch status for a resource, or undefined when its status already says this. */
export function desiredStatus(live: KubeObject, st: ResourceStatus): Record<string, unknown> | undefined {
  const old = (live.status ?? {}) as { conditions?: Array<Condition & { lastTransitionTime?: string }>; [k: string]: unknown }
  const now = new Date().toISOString()
  const conditions = st.conditions.map((c) => {
    const prev = old.conditions?.find((p) => p.type === c.type)
    return { ...c, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now }
  })
  const next: Record<string, unknown> = { ...st.fields, observedGeneration: st.generation, conditions }
  // The API server returns keys sorted (Go maps): compare canonically, lastTransitionTime aside.
  const canon = (v: unknown): string =>
    Array.isArray(v) ? `[${v.map(canon).join(',')}]` : v && typeof v === 'object' ? `{${Object.keys(v).filter((k) => k !== 'lastTransitionTime' && (v as any)[k] !== undefined).sort().map((k) => `${k}:${canon((v as any)[k])}`).join(',')}}` : JSON.stringify(v)
  const same =
    canon(old.conditions) === canon(conditions) &&
    old.observedGeneration === st.generation &&
    Object.entries(st.fields).every(([k, v]) => canon(old[k]) === canon(v))
  const removed = ['url', 'phase', 'activeBackends', 'health'].filter((k) => k in old && !(k in st.fields))
  if (same && !removed.length) return undefined
  for (const k of removed) next[k] = null
  // A merge patch merges objects: keys the new spec no longer has must be sent as null, or the old ones stay.
  if ('lastAccepted' in st.fields) next.lastAccepted = replacing(old.lastAccepted, st.fields.lastAccepted)
  return next
}

/** The merge patch that turns `old` into exactly `value` (RFC 7386: null deletes a key, arrays replace). */
function replacing(old: unknown, value: unknown): unknown {
  const plain = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v)
  if (!plain(old) || !plain(value)) return value
  const patch: Record<string, unknown> = {}
  for (const k of Object.keys(old)) if (!(k in value)) patch[k] = null
  for (const [k, v] of Object.entries(value)) patch[k] = replacing(old[k], v)
  return patch
}
