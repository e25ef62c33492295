// `kortex --controller`: the Kubernetes controller in the gateway's own
// process, for small clusters (one Deployment). It serves GET /config on
// loopback (or on the given port, so edge gateways can pull from it too)
// and the gateway follows it like any other; with POD_NAMESPACE set, the
// replicas elect a leader with a Lease so one of them writes status. It reads
// the standalone controller's settings (KORTEX_GATEWAYCONFIG_NAMESPACES...).
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'

export interface EmbedOptions {
  port?: number
  host?: string
  tokens?: string[]
  namespace?: string
  /** Namespaces whose GatewayConfig (and catch-all routes) are accepted; default KORTEX_GATEWAYCONFIG_NAMESPACES, else the controller's own. */
  gatewayConfigNamespaces?: string[]
}

export async function embedController(o: EmbedOptions, notice: (line: string) => void): Promise<{ url: string; token: string; stop: () => Promise<void> }> {
  const [{ KubeConfig }, { KortexController }] = await Promise.all([import('@kubernetes/client-node'), import('../../k8s/controller/controller.ts')])
  const kc = new KubeConfig()
  kc.loadFromDefault() // in-cluster service account, else ~/.kube/config
  // KORTEX_CONTROLLER_PORT / KORTEX_CONTROLLER_TOKENS also serve GET /config to gateways elsewhere (edges).
  const envPort = process.env.KORTEX_CONTROLLER_PORT ? Number(process.env.KORTEX_CONTROLLER_PORT) : undefined
  const envTokens = (process.env.KORTEX_CONTROLLER_TOKENS ?? '').split(',').map((t) => t.trim()).filter(Boolean)
  const tokens = o.tokens ?? (envTokens.length ? envTokens : undefined)
  const port = o.port ?? envPort
  const token = tokens?.[0] ?? randomBytes(24).toString('base64url')
  const podNs = process.env.POD_NAMESPACE
  const controller = new KortexController({
    kc,
    namespace: o.namespace,
    tokens: [token, ...(tokens?.slice(1) ?? [])],
    port: port ?? 0,
    host: o.host ?? (port === undefined ? '127.0.0.1' : '0.0.0.0'),
    gatewayConfigNamespaces: o.gatewayConfigNamespaces ?? (process.env.KORTEX_GATEWAYCONFIG_NAMESPACES ?? '').split(',').map((n) => n.trim()).filter(Boolean),
    kserve: process.env.KORTEX_KSERVE !== '0',
    legacyGroup: process.env.KORTEX_LEGACY_GROUP === '1',
    leaderElection: podNs ? { namespace: podNs, identity: process.env.POD_NAME ?? hostname() } : undefined,
    log: (line, fields) => notice(fields ? `${line} ${JSON.stringify(fields)}` : line),
  })
  const url = await controller.start()
  notice(`kortex: embedded controller serving ${url}/config`)
  const local = `http://127.0.0.1:${new URL(url!).port}/config`
  return { url: local, token, stop: () => controller.stop() }
}
