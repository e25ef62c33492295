// Leader election with a coordination.k8s.io/v1 Lease, so two or more
// controller replicas can run: every replica watches and serves GET /config
// (they compute the same document), only the leader writes status.
//
// Another replica's renewTime is never compared with our clock (clocks
// differ): like client-go, we remember the record we last saw and when, by
// our own clock, and take the Lease only once that record has not changed for
// a whole lease duration.
import { CoordinationV1Api, KubeConfig, V1MicroTime, type V1Lease } from '@kubernetes/client-node'

export interface LeaderOptions {
  kc: KubeConfig
  namespace: string
  name: string
  identity: string
  leaseSeconds?: number
  /** How often to renew (or try to acquire). */
  retryMs?: number
  onChange: (leader: boolean) => void
  onError?: (err: unknown) => void
}

/** What changes whenever the holder renews or another takes over. */
const recordOf = (l: V1Lease) => JSON.stringify([l.spec?.holderIdentity, l.spec?.renewTime, l.metadata?.resourceVersion])

const codeOf = (err: unknown) => (err as { code?: number }).code ?? (err as { statusCode?: number }).statusCode

export class LeaderElector {
  #api: CoordinationV1Api
  #leader = false
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false
  #inflight: Promise<void> | undefined
  /** The Lease record as we last saw it, and when (our clock). */
  #observed: { record: string; at: number } | undefined

  constructor(private readonly o: LeaderOptions) {
    this.#api = o.kc.makeApiClient(CoordinationV1Api)
  }

  get leader(): boolean {
    return this.#leader
  }

  start(): void {
    this.#stopped = false
    void this.#tick()
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return
    this.#inflight = this.tryAcquireOrRenew().then(
      (leader) => void (!this.#stopped && this.#set(leader)),
      (err) => {
        this.o.onError?.(err)
        if (!this.#stopped) this.#set(false)
      },
    )
    await this.#inflight
    this.#inflight = undefined
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#tick(), this.o.retryMs ?? 2000)
  }

  #set(leader: boolean): void {
    if (leader === this.#leader) return
    this.#leader = leader
    this.o.onChange(leader)
  }

  /** One round: create the Lease, renew ours, or take over an expired one. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.o
    const leaseDurationSeconds = this.o.leaseSeconds ?? 15
    const local = Date.now() // only ever compared with our own earlier readings
    const now = new V1MicroTime(local)
    let lease: V1Lease
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace })
    } catch (err) {
      if (codeOf(err) !== 404) throw err
      try {
        this.#saw(await this.#api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } } }), local)
        return true
      } catch (e) {
        if (codeOf(e) === 409) return false // another replica created it first
        throw e
      }
    }
    const spec = lease.spec ?? {}
    if (this.#observed?.record !== recordOf(lease)) this.#saw(lease, local)
    const expired = this.#observed!.at + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 <= local
    const ours = spec.holderIdentity === identity
    if (!ours && !expired && spec.holderIdentity) return false
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: now,
        ...(ours ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    }
    try {
      this.#saw(await this.#api.replaceNamespacedLease({ name, namespace, body }), local) // carries resourceVersion: a race loses with 409
      return true
    } catch (err) {
      if (codeOf(err) === 409) return false
      throw err
    }
  }

  #saw(lease: V1Lease, at: number): void {
    this.#observed = { record: recordOf(lease), at }
  }

  /** Stops renewing; a leader gives the Lease up so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#inflight // a round in flight must not re-acquire after the release below
    if (this.#leader) this.#set(false)
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace })
      if (lease.spec?.holderIdentity === this.o.identity) {
        await this.#api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, renewTime: undefined } } })
      }
    } catch {
      // best effort: the Lease expires on its own
    }
  }
}
