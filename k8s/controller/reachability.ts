// The API server out of reach (a wrong kubeconfig, a cluster down, no
// network): every informer and the lease fail together, each retrying with
// backoff. One line says so, naming the server and the cause; failures that
// follow with the same cause add nothing; one line when it answers again.

/** Why the API server could not be reached; undefined when it answered (an HTTP status). */
export function unreachableCause(err: unknown): string | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined
  if (typeof e?.code === 'number' || typeof e?.statusCode === 'number') return undefined
  const message = err instanceof Error ? err.message : String(err)
  if (message.includes('HTTP protocol is not allowed when skipTLSVerify')) {
    return "the kubeconfig names a plain http:// server, which the Kubernetes client refuses unless the cluster sets insecure-skip-tls-verify: true; give the server's https:// address"
  }
  // node-fetch: "request to https://10.0.0.1/apis/... failed, reason: connect ECONNREFUSED 10.0.0.1:443"
  return /, reason: (.+)$/.exec(message)?.[1] ?? message
}

export class ApiServerReachability {
  #cause: string | undefined

  constructor(
    private readonly server: string,
    private readonly log: (line: string, fields?: Record<string, unknown>) => void,
  ) {}

  /** A failed call: true when it was the server out of reach (said once per cause), false for the caller to report. */
  failed(err: unknown): boolean {
    const cause = unreachableCause(err)
    if (cause === undefined) return false
    if (cause !== this.#cause) {
      this.#cause = cause
      this.log('kortex-controller: cannot reach the Kubernetes API server; retrying with backoff (at most 30 s apart)', { server: this.server, cause })
    }
    return true
  }

  /** A call answered. */
  answered(): void {
    if (this.#cause === undefined) return
    this.#cause = undefined
    this.log('kortex-controller: the Kubernetes API server answers again', { server: this.server })
  }
}
