// Shared by the k8s tests: a kubeconfig for the fake API server, resource
// builders, and polling without fixed sleeps.
import { KubeConfig } from '@kubernetes/client-node'

/** `namespace`: the context's namespace, which out of a cluster is the controller's own. */
export function kubeConfigFor(server: string, namespace = 'apps'): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'test-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'test', namespace }],
    currentContext: 'fake',
  })
  return kc
}

export const G = 'gateway.kortex.io/v1alpha1'

export const backend = (name: string, url: string, extra: Record<string, unknown> = {}, namespace = 'apps') => ({
  apiVersion: G,
  kind: 'InferenceBackend',
  metadata: { name, namespace },
  spec: { type: 'External', external: { url, provider: 'OpenAI', model: `${name}-model`, ...extra } },
})

export const route = (name: string, spec: Record<string, unknown>, namespace = 'apps') => ({ apiVersion: G, kind: 'InferenceRoute', metadata: { name, namespace }, spec })

export const gatewayConfig = (namespace = 'apps') => ({ apiVersion: G, kind: 'GatewayConfig', metadata: { name: 'gateway', namespace }, spec: { auth: { open: true }, accessLog: false } })

export const secret = (name: string, data: Record<string, string>, namespace = 'apps') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
})

/** Polls `check` until it returns a truthy value (or throws its last error after `ms`). */
export async function eventually<T>(check: () => T | Promise<T>, ms = 8000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v as NonNullable<T>
      last = new Error(`${what}: still ${JSON.stringify(v)}`)
    } catch (err) {
      last = err
    }
    if (Date.now() > end) throw last
    await new Promise((r) => setTimeout(r, 25))
  }
}
