// Informers (list + watch) over @kubernetes/client-node's ListWatch: it resumes
// a dropped watch from the last resourceVersion and re-lists on 410 Gone;
// on any other error it stops (client-node 1.x), so this restarts it with
// backoff. Every change calls `changed`.
import { KubeConfig, ListWatch, Watch, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node'

export interface InformerOptions {
  kc: KubeConfig
  /** Collection path, e.g. /apis/gateway.kortex.io/v1alpha1/inferenceroutes or /api/v1/namespaces/ns/secrets. */
  path: string
  fieldSelector?: string
  /** The list call (a typed client-node API call, so TLS and credentials come from the kubeconfig). */
  list: () => Promise<KubernetesListObject<any>>
  changed: () => void
  onRestart?: (err: unknown) => void
  /** A list answered (the API server is reachable). */
  onListed?: () => void
  /** First restart delay (doubles up to 30 s). */
  restartMs?: number
}

const codeOf = (err: unknown) => (err as { code?: number } | undefined)?.code ?? (err as { statusCode?: number } | undefined)?.statusCode

export class Informer<T extends KubernetesObject = KubernetesObject> {
  #lw: ListWatch<T>
  #stopped = false
  #failures = 0
  #restartedAt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #listed = false
  #settled = false
  #forbidden = false

  constructor(private readonly o: InformerOptions) {
    const list = async (): Promise<KubernetesListObject<T>> => {
      try {
        const body = await o.list()
        o.onListed?.()
        this.#listed = true
        this.#forbidden = false
        this.#failures = 0
        return body
      } catch (err) {
        this.#forbidden = codeOf(err) === 403
        throw err
      } finally {
        this.#settled = true
        // An empty list fires no event; whoever waits on this informer still wants to know it answered.
        setTimeout(() => o.changed(), 0)
      }
    }
    this.#lw = new ListWatch<T>(o.path, new Watch(o.kc), list, false, undefined, o.fieldSelector)
    this.#lw.on('add', () => o.changed())
    this.#lw.on('update', () => o.changed())
    this.#lw.on('delete', () => o.changed())
    this.#lw.on('error', (err) => this.#restart(err))
  }

  /** Lists, then watches. Resolves once the first list is in (or failed: it keeps retrying). */
  async start(): Promise<void> {
    this.#stopped = false
    this.#restartedAt = Date.now()
    await this.#lw.start()
  }

  #restart(err: unknown): void {
    if (this.#stopped) return
    // A watch that stayed up a while since its restart starts the backoff over (a dropped connection is an
    // error to client-node). Measured from the restart, not the last error: else a server out of reach,
    // failing once the delay passed 10 s, went back to retrying every 200 ms.
    if (Date.now() - this.#restartedAt > 10_000) this.#failures = 0
    this.#failures++
    if (codeOf(err) === 403 && !this.#forbidden) {
      this.#forbidden = true // a watch refused after RBAC changed: the cache may still hold the object, but it is no longer ours to read
      this.o.changed()
    }
    this.o.onRestart?.(err)
    // 404: the resource type is not installed (e.g. no KServe in this cluster): look again now and then.
    const missing = codeOf(err) === 404
    const delay = missing ? 30_000 : Math.min(30_000, (this.o.restartMs ?? 200) * 2 ** Math.min(this.#failures - 1, 8))
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#restartedAt = Date.now()
      if (!this.#stopped) void this.#lw.start()
    }, delay)
  }

  get synced(): boolean {
    return this.#listed
  }

  /** The API server answered 403 the last time: RBAC does not let us read this. */
  get forbidden(): boolean {
    return this.#forbidden
  }

  /** The first list has answered, successfully or not. */
  get settled(): boolean {
    return this.#settled
  }

  list(): readonly T[] {
    return this.#lw.list()
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#lw.get(name, namespace)
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    void this.#lw.stop()
  }
}
