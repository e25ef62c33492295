// What a gateway's fleet looks like at a scrape: breaker, health and in-flight
// per backend, and how many backends each route can still send to. Read only
// when metrics are collected, so requests pay nothing for these gauges.
import type { CompiledConfig, Route } from '../config/compile.ts'
import { backendKey, type Fleet } from '../resilience/fleet.ts'
import type { HealthMonitor } from '../resilience/health.ts'
import type { FleetView } from './metrics.ts'

export function fleetView(fleet: Fleet, config: () => CompiledConfig | undefined, health?: Pick<HealthMonitor, 'health'>): FleetView {
  return {
    *backends() {
      const c = config()
      if (!c) return
      for (const b of c.backends.values()) {
        yield { backend: b.name, breaker: fleet.breaker(b).snapshot().state, health: health?.health(backendKey(b)) ?? 'unknown', inflight: fleet.live(b).inflight }
      }
    },
    *routes() {
      const c = config()
      if (!c) return
      for (const r of c.routes) {
        let available = 0
        for (const name of backendsOf(r)) {
          const b = r.backends.get(name)
          if (b && fleet.usable(b)) available++
        }
        yield { route: r.name, available }
      }
    },
  }
}

/** Every backend a route may send to: its default, its rules' and its fallback chain. */
function backendsOf(r: Route): Set<string> {
  const names = new Set<string>(r.fallback)
  if (r.defaultBackend) names.add(r.defaultBackend.name)
  for (const rule of r.rules) for (const w of rule.backends) names.add(w.name)
  return names
}
