// Small configs tests write to files. Line numbers matter to the tests that
// check error positions: spec.type is on line 9, defaultBackend on line 16.

/** One demo (echo) backend serving `model`; `gateway` is the GatewayConfig spec in flow style. */
export const echoConfig = (model: string, gateway = '{ auth: { open: true }, accessLog: false }') => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec: ${gateway}
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: echo }
spec: { type: demo }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r }
spec:
  models: [${model}]
  defaultBackend: { name: echo }
`

/** A route named r-<model> serving `model` from `dflt`, failing over to `fallback` in order (a YAML document with its leading ---). */
export const modelRoute = (model: string, dflt: string, fallback: string[] = []) => `---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: r-${model} }
spec: { models: [${model}], defaultBackend: { name: ${dflt} }, fallback: { backends: [${fallback.join(', ')}] } }
`
