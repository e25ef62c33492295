// npm run bench:metrics: CPU per request of recording a plain-route request's
// metrics (recordRequest, what the gateway calls after each response) with no
// meter provider, then with the Prometheus exposition installed as on Node.
// In-process and single-threaded: the figure is CPU time per call.
import { recordRequest, type RequestSummary } from '../src/telemetry/otel.ts'
import { installExposition } from '../adapters/metrics/prometheus.ts'

const N = Number(process.env.BENCH_METRICS_CALLS ?? 200_000)
const summary: RequestSummary = {
  op: 'chat', requestModel: 'bench-model', responseModel: 'bench-model', provider: 'openai', backend: 'upstream', route: 'bench',
  startTime: 0, endTime: 12, stream: false, status: 200, inputTokens: 180, outputTokens: 40, costNano: 850_000, currency: 'USD',
  team: 'web', attempts: 1, failures: [], requestId: 'r',
}

function perCall(): number {
  for (let i = 0; i < N / 10; i++) recordRequest(summary) // warm up
  const t0 = process.cpuUsage()
  for (let i = 0; i < N; i++) recordRequest(summary)
  const d = process.cpuUsage(t0)
  return ((d.user + d.system) * 1000) / N // ns
}

const off = perCall()
const exposition = installExposition()
const on = perCall()
await exposition.respond(null) // a scrape works after all that
console.log(`recordRequest, ${N} calls: metrics off ${off.toFixed(0)} ns/request, on ${on.toFixed(0)} ns/request (+${(on - off).toFixed(0)} ns)`)
