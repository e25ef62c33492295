// KORTEX_METRICS, KORTEX_METRICS_PATH and KORTEX_METRICS_PORT, read apart
// from the exposition so a gateway with metrics off never loads the SDK.

export interface MetricsSettings {
  /** Serve metrics at all (KORTEX_METRICS, on unless `off`/`false`/`0`). */
  enabled: boolean
  /** Path of the exposition (KORTEX_METRICS_PATH, default /metrics). */
  path: string
  /** A port of its own (KORTEX_METRICS_PORT); on the gateway's port when absent. */
  port?: number
}

/** The settings from KORTEX_METRICS, KORTEX_METRICS_PATH and KORTEX_METRICS_PORT. */
export function metricsSettings(env: (name: string) => string | undefined): MetricsSettings {
  const on = (env('KORTEX_METRICS') ?? 'on').trim().toLowerCase()
  const path = env('KORTEX_METRICS_PATH')?.trim() || '/metrics'
  if (!path.startsWith('/')) throw new Error(`KORTEX_METRICS_PATH must start with '/': ${path}`)
  const p = env('KORTEX_METRICS_PORT')?.trim()
  const port = p ? Number(p) : undefined
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) throw new Error(`KORTEX_METRICS_PORT must be a port number: ${p}`)
  return { enabled: !['off', 'false', '0', 'no'].includes(on), path, port }
}

/** Whether a request asks for the exposition: GET (or HEAD) at `path`. */
export function isMetricsRequest(request: Request, path: string): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  const url = request.url
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return false
  const end = url.indexOf('?', start)
  return (end < 0 ? url.slice(start) : url.slice(start, end)) === path
}
