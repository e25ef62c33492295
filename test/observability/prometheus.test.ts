// k8s/observability as an operator deploys it: a real Prometheus (the Debian
// package's binary) scrapes a running gateway every second while it serves a
// little traffic (refusals of every kind, a failover, a breaker opening, a
// budget running out, a refused config reload, streams) and the controller's
// /metrics; then every PromQL expression of the dashboards and the alert rules,
// read from their files, must return data through Prometheus's HTTP API.
// promtool checks the rules and runs their unit tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { startKortex, type Kortex } from '../../adapters/node/start.ts'
import { ConfigServer } from '../../k8s/controller/server.ts'
import { Metrics } from '../../k8s/controller/metrics.ts'
import { fakeFleet } from '../helpers/fake-fleet.ts'
import { freePort, requireRedis } from '../helpers/redis.ts'

const dir = join(import.meta.dirname, '../../k8s/observability')
const which = (bin: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const havePrometheus = which('prometheus') && which('promtool')
const redisUp = await requireRedis('the Prometheus test (state store metrics)')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Every `expr` of a Grafana dashboard, panels in rows included. */
function dashboardExprs(file: string): string[] {
  const out: string[] = []
  const walk = (panels: any[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push(t.expr)
      walk(p.panels)
    }
  }
  walk(JSON.parse(readFileSync(join(dir, file), 'utf8')).panels)
  return out
}
const rules = () => parse(readFileSync(join(dir, 'kortex-alerts.rules.yaml'), 'utf8')) as { groups: Array<{ name: string; rules: Array<{ alert: string; expr: string }> }> }
// An alert's expression without its threshold: the series it reads must exist whether or not it fires.
const withoutThreshold = (expr: string) => expr.replace(/\s*(>=|<=|==|!=|>|<)\s*[\d.]+\s*$/, '')

describe('promtool', () => {
  it.skipIf(!havePrometheus)('checks the alert rules and passes their unit tests', () => {
    expect(execFileSync('promtool', ['check', 'rules', 'kortex-alerts.rules.yaml'], { cwd: dir, encoding: 'utf8' })).toMatch(/SUCCESS: 8 rules found/)
    expect(execFileSync('promtool', ['test', 'rules', 'kortex-alerts.test.yaml'], { cwd: dir, encoding: 'utf8' })).toMatch(/SUCCESS/)
  })

  it('the PrometheusRule carries exactly the plain rules file', () => {
    const pr = parseAllDocuments(readFileSync(join(dir, 'prometheusrule.yaml'), 'utf8'))[0]!.toJS()
    expect(pr.kind).toBe('PrometheusRule')
    expect(pr.spec).toEqual(rules())
  })
})

const run = Math.random().toString(36).slice(2, 8)
const config = (routes: string) => `apiVersion: gateway.kortex.io/v1alpha1
kind: GatewayConfig
metadata: { name: g }
spec:
  accessLog: false
  state: { store: redis, prefix: "prom-${run}:", timeoutMs: 1000 }
  auth:
    keys:
      - { name: web-app, key: kx-web-app-0001, team: web }
      - { name: ml-app, key: kx-ml-app-00001, team: ml }
  limits: { defaultMaxTokens: 16 }   # a budget must hold one request's worst case
  budgets:
    - { scope: team, name: web, amount: "0.001", period: day, alertAt: [100] }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: steady }
spec:
  type: external
  external: { url: "http://steady.test/v1", model: steady-model }
  cost: { inputTokenCost: "0.01", outputTokenCost: "0.03" }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: flaky }
spec:
  type: external
  external: { url: "http://flaky.test/v1", model: flaky-model }
  circuitBreaker: { consecutiveFailures: 2, cooldownSeconds: 600, maxCooldownSeconds: 600 }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceBackend
metadata: { name: echo }
spec: { type: demo }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: chat }
spec:
  models: [chat-model]
  defaultBackend: { name: flaky }
  fallback: { backends: [steady] }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: lonely }
spec:
  models: [lonely-model]
  defaultBackend: { name: flaky }
---
apiVersion: gateway.kortex.io/v1alpha1
kind: InferenceRoute
metadata: { name: limited }
spec:
  models: [limited-model]
  defaultBackend: { name: echo }
  rateLimit: { requestsPerMinute: 2 }
${routes}`

describe.skipIf(!havePrometheus || !redisUp)('a real Prometheus scraping a gateway under traffic', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kortex-prom-'))
  let k: Kortex
  let ctl: ConfigServer
  let prom: ChildProcess
  let promUrl: string
  const promLog: string[] = []

  beforeAll(async () => {
    const fleet = fakeFleet()
    fleet.set('flaky', { status: 500 })
    const configFile = join(tmp, 'kortex.yaml')
    writeFileSync(configFile, config(''))
    k = await startKortex({ port: 0, configPath: configFile, fetch: fleet.fetch, notice: () => {}, log: { record() {}, warn() {}, error() {} } })

    // The controller's /metrics as its config server serves it; the Lease and
    // informer figures are set as controller.ts sets them (no cluster here).
    const metrics = new Metrics()
    ctl = new ConfigServer({ tokens: [], metrics, ready: () => true })
    const ctlUrl = await ctl.listen(0, '127.0.0.1')
    ctl.publish({ kind: 'KortexConfig', version: 'v1', resources: [] })
    await (await fetch(`${ctlUrl}/config`)).text()
    // A gateway long-polling for the next version (answered 304 when the wait ends).
    void fetch(`${ctlUrl}/config?wait=20`, { headers: { 'if-none-match': '"v1"' } }).then((r) => r.text(), () => {})
    metrics.set('kortex_controller_leader', 1)
    metrics.inc('kortex_controller_config_builds_total', { result: 'ok' })
    metrics.inc('kortex_controller_resources', { kind: 'InferenceRoute', ready: 'True' })
    metrics.inc('kortex_controller_watch_restarts_total', { resource: 'routes' }, 0)
    metrics.inc('kortex_controller_status_patches_total', { result: 'ok' })

    const port = await freePort()
    promUrl = `http://127.0.0.1:${port}`
    const target = (url: string) => new URL(url).host
    writeFileSync(
      join(tmp, 'prometheus.yml'),
      `global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }
rule_files: [${join(dir, 'kortex-alerts.rules.yaml')}]
scrape_configs:
  - job_name: kortex-gateway
    static_configs: [{ targets: ["${target(k.url)}"] }]
  - job_name: kortex-controller
    static_configs: [{ targets: ["${target(ctlUrl)}"] }]
`,
    )
    prom = spawn('prometheus', [`--config.file=${join(tmp, 'prometheus.yml')}`, `--storage.tsdb.path=${join(tmp, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] })
    prom.stderr!.on('data', (d) => promLog.push(String(d)))

    // Traffic over a few scrapes, so every rate() has two samples or more.
    const chat = (model: string, key?: string, extra: Record<string, unknown> = {}) =>
      fetch(`${k.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 12, ...extra }),
      }).then((r) => r.text().then(() => r.status))
    const statuses: number[] = []
    for (let round = 0; round < 4; round++) {
      statuses.push(await chat('chat-model', 'kx-ml-app-00001')) // flaky fails, steady serves: a failover, then the breaker opens
      statuses.push(await chat('lonely-model', 'kx-ml-app-00001')) // no fallback: fails, then its route has no backend
      statuses.push(await chat('chat-model', 'kx-web-app-0001')) // team web's budget runs out: 402
      statuses.push(await chat('limited-model', 'kx-ml-app-00001', { stream: true })) // 2 a minute, then 429
      statuses.push(await chat('no-such-model', 'kx-ml-app-00001')) // 404
      statuses.push(await chat('chat-model', 'kx-wrong-key-000')) // 401
      statuses.push(await chat('', 'kx-ml-app-00001')) // 400
      if (round === 1) writeFileSync(configFile, config('  this is: [not valid')) // a refused reload
      await sleep(1000)
    }
    expect(new Set(statuses)).toEqual(new Set([200, 401, 402, 400, 404, 429, 502]))
  }, 40_000)

  afterAll(async () => {
    prom?.kill('SIGTERM')
    if (prom && prom.exitCode === null) await new Promise((r) => prom.once('exit', r))
    await k?.close()
    await ctl?.close()
    rmSync(tmp, { recursive: true, force: true })
  })

  const query = async (expr: string): Promise<unknown[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr.replaceAll('$__rate_interval', '1m'))}`)
    const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } }
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`)
    return body.data!.result
  }

  it('every dashboard and alert expression returns data, and the rules load', async () => {
    const exprs = [
      ...dashboardExprs('dashboard-gateway.json'),
      ...dashboardExprs('dashboard-controller.json'),
      ...rules().groups.flatMap((g) => g.rules.map((r) => withoutThreshold(r.expr))),
    ]
    expect(exprs.length).toBeGreaterThan(30)
    let empty: string[] = exprs
    for (let i = 0; i < 20 && empty.length; i++) {
      const results = await Promise.all(empty.map(async (e) => [e, (await query(e)).length] as const))
      empty = results.filter(([, n]) => n === 0).map(([e]) => e)
      if (empty.length) await sleep(500)
    }
    expect(empty, promLog.join('').slice(-2000)).toEqual([])

    const loaded = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as any
    const states = loaded.data.groups.flatMap((g: any) => g.rules.map((r: any) => [r.name, r.health]))
    expect(states).toHaveLength(8)
    expect(states.filter(([, h]: [string, string]) => h !== 'ok')).toEqual([])
  })

  it('the breaker that opened, the route left without a backend, the failover and the refusals read as the alerts and panels expect', async () => {
    expect(await query('kortex_breaker_state{state="open"} == 1')).toMatchObject([{ metric: { backend: 'flaky' } }])
    expect(await query('min by (route) (kortex_route_backends_available) == 0')).toMatchObject([{ metric: { route: 'lonely' } }])
    expect(await query('sum by (reason) (kortex_requests_total{outcome="refused"})')).toHaveLength(5)
    expect(await query('kortex_requests_total{outcome="refused",reason="rate_limit_exceeded",route="limited"}')).toHaveLength(1)
    expect(await query('kortex_rate_limit_refusals_total{scope="route"}')).toHaveLength(1)
    expect(await query('kortex_requests_total{outcome="failed_over",route="chat",backend="steady"}')).toHaveLength(1)
    expect(await query('kortex_config_reloads_total{result="refused"} > 0')).toHaveLength(1)
  })
})
