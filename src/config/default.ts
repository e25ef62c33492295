// The embedded config `npm start` serves when no file is given: open access
// and one clearly labelled demo backend, so the first request needs no key.
export const DEFAULT_CONFIG_YAML = `# Kortex demo config (embedded). Open access; the backend only echoes.
apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: demo }
spec:
  auth: { open: true }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: kortex-demo }
spec:
  type: demo
  demo: { chunkDelayMs: 20 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: demo }
spec:
  models: [kortex-demo]
  defaultBackend: { name: kortex-demo }
`
