// The controller's command: `kortex controller` (`npm run controller` in a
// checkout), configured by the environment (the usage below).
import { KubeConfig } from '@kubernetes/client-node'
import { hostname } from 'node:os'
import { KortexController } from './controller.ts'

const usage = `Usage: kortex controller

  Watches the Kortex resources and serves the compiled config to gateways at GET /config.
  KORTEX_CONTROLLER_TOKENS  comma-separated bearer tokens gateways present (required,
                            unless KORTEX_CONTROLLER_INSECURE=1 for a trusted test setup)
  PORT (8081), HOST (0.0.0.0)
  WATCH_NAMESPACE           watch one namespace (default: all)
  POD_NAMESPACE, POD_NAME   the Lease for leader election lives in POD_NAMESPACE
  KORTEX_GATEWAYCONFIG_NAMESPACES  comma-separated namespaces whose GatewayConfig is accepted
                            (default: the controller's own, POD_NAMESPACE)
  KORTEX_KSERVE=0           do not watch InferenceServices
  KORTEX_LEGACY_GROUP=1     also watch the old operator's group gateway.inference-gateway.io
  The cluster: in-cluster service account, else KUBECONFIG or ~/.kube/config.
`
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(usage)
  process.exit(0)
}

const tokens = (process.env.KORTEX_CONTROLLER_TOKENS ?? '').split(',').map((t) => t.trim()).filter(Boolean)
if (!tokens.length && process.env.KORTEX_CONTROLLER_INSECURE !== '1') {
  console.error('kortex-controller: set KORTEX_CONTROLLER_TOKENS (the config carries provider keys); KORTEX_CONTROLLER_INSECURE=1 serves it without auth')
  process.exit(2)
}
const kc = new KubeConfig()
kc.loadFromDefault()
const podNs = process.env.POD_NAMESPACE
const controller = new KortexController({
  kc,
  tokens,
  namespace: process.env.WATCH_NAMESPACE || undefined,
  port: Number(process.env.PORT ?? 8081),
  host: process.env.HOST ?? '0.0.0.0',
  gatewayConfigNamespaces: (process.env.KORTEX_GATEWAYCONFIG_NAMESPACES ?? '').split(',').map((n) => n.trim()).filter(Boolean),
  kserve: process.env.KORTEX_KSERVE !== '0',
  legacyGroup: process.env.KORTEX_LEGACY_GROUP === '1',
  leaderElection: podNs ? { namespace: podNs, identity: process.env.POD_NAME ?? hostname() } : undefined,
})
const url = await controller.start()
console.error(`kortex-controller: serving ${url}/config (healthz, readyz, metrics)`)
const stop = () => {
  controller.stop().then(() => process.exit(0))
  setTimeout(() => process.exit(0), 5000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
