// A new config never half-replaces the running one. An empty file, a file
// read while it was being written, or a pull that lost most of the cluster
// all look like a config that has no routes, no backends or no
// GatewayConfig: applying one answers every request with 401 or 404. So a
// set of resources that drops every route, every backend or the
// GatewayConfig the running config has is refused, unless one of its
// resources says the drop is meant:
//
//   metadata:
//     annotations: { kortex.io/allow-empty: "true" }

export const ALLOW_EMPTY = 'kortex.io/allow-empty'

/** What a guard compares: how much of each kind a set of resources holds. */
export interface ConfigShape {
  routes: number
  backends: number
  gatewayConfig: boolean
}

/** Thrown for a config the guard refuses; the running config stays. */
export class ConfigRefused extends Error {
  override name = 'ConfigRefused'
}

type ResourceLike = { kind?: unknown; metadata?: { annotations?: unknown } }

export function shapeOf(resources: readonly unknown[]): ConfigShape {
  let routes = 0
  let backends = 0
  let gatewayConfig = false
  for (const r of resources as ResourceLike[]) {
    if (r?.kind === 'InferenceRoute') routes++
    else if (r?.kind === 'InferenceBackend') backends++
    else if (r?.kind === 'GatewayConfig') gatewayConfig = true
  }
  return { routes, backends, gatewayConfig }
}

function allowsEmpty(resources: readonly unknown[]): boolean {
  return (resources as ResourceLike[]).some((r) => {
    const a = r?.metadata?.annotations as Record<string, unknown> | undefined
    return a?.[ALLOW_EMPTY] === 'true' || a?.[ALLOW_EMPTY] === true
  })
}

/**
 * Why `next` must not replace a running config of shape `running` (undefined:
 * nothing runs yet, and only a set with no resources at all is refused), or
 * undefined when it may.
 */
export function refusal(running: ConfigShape | undefined, next: readonly unknown[]): string | undefined {
  if (!running) return next.length ? undefined : `it holds no resources (an empty file?); nothing was applied`
  if (allowsEmpty(next)) return undefined
  const s = shapeOf(next)
  const lost: string[] = []
  if (running.routes && !s.routes) lost.push(`every InferenceRoute (${running.routes} now)`)
  if (running.backends && !s.backends) lost.push(`every InferenceBackend (${running.backends} now)`)
  if (running.gatewayConfig && !s.gatewayConfig) lost.push('the GatewayConfig')
  if (!lost.length) return undefined
  return `it would drop ${lost.join(', ')}; an empty file or one still being written looks like this. If the drop is meant, annotate one of its resources with ${ALLOW_EMPTY}: "true"`
}

/** Throws ConfigRefused when `next` must not replace a running config of shape `running`. */
export function guardConfig(running: ConfigShape | undefined, next: readonly unknown[], source: string): ConfigShape {
  const why = refusal(running, next)
  if (why) throw new ConfigRefused(`${source}: refused: ${why}`)
  return shapeOf(next)
}
