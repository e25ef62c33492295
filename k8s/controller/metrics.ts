// A small Prometheus text registry for the controller's /metrics: counters
// and gauges with labels, no dependency.
type Labels = Record<string, string>

const HELP: Record<string, [string, 'counter' | 'gauge']> = {
  kortex_controller_config_info: ['The config version being served (value 1).', 'gauge'],
  kortex_controller_config_builds_total: ['Config compilations by result (ok, failed).', 'counter'],
  kortex_controller_config_requests_total: ['GET /config answers by HTTP status.', 'counter'],
  kortex_controller_long_polls: ['Long polls waiting for a change.', 'gauge'],
  kortex_controller_resources: ['Kortex resources by kind and Ready status.', 'gauge'],
  kortex_controller_watch_restarts_total: ['Informer restarts after an error or a dropped watch, by resource.', 'counter'],
  kortex_controller_status_patches_total: ['Status patches by result.', 'counter'],
  kortex_controller_leader: ['1 while this replica holds the Lease (writes status).', 'gauge'],
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const keyOf = (l: Labels) => Object.keys(l).sort().map((k) => `${k}="${esc(l[k]!)}"`).join(',')

export class Metrics {
  #values = new Map<string, Map<string, number>>()

  inc(name: string, labels: Labels = {}, by = 1): void {
    const m = this.#series(name)
    const k = keyOf(labels)
    m.set(k, (m.get(k) ?? 0) + by)
  }

  set(name: string, value: number, labels: Labels = {}): void {
    const m = this.#series(name)
    if (name === 'kortex_controller_config_info') m.clear() // one version at a time
    m.set(keyOf(labels), value)
  }

  /** Replaces a gauge's series whole (e.g. resources by kind). */
  reset(name: string): void {
    this.#series(name).clear()
  }

  get(name: string, labels: Labels = {}): number | undefined {
    return this.#values.get(name)?.get(keyOf(labels))
  }

  render(): string {
    const out: string[] = []
    for (const [name, series] of this.#values) {
      const [help, type] = HELP[name] ?? ['', 'gauge']
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [k, v] of series) out.push(`${name}${k ? `{${k}}` : ''} ${v}`)
    }
    return out.join('\n') + '\n'
  }

  #series(name: string): Map<string, number> {
    let m = this.#values.get(name)
    if (!m) this.#values.set(name, (m = new Map()))
    return m
  }
}
