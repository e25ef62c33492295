// Which route serves a request: the one the client names with X-Route
// (the old operator's header), else the first route that lists the model,
// else the first whose rules' model conditions serve it, else the first
// catch-all route.
import { notFound } from '../api/errors.ts'
import type { CompiledConfig, Route } from '../config/compile.ts'

export function resolveRoute(config: CompiledConfig, model: string, headers: Headers): Route {
  const named = headers.get('x-route')
  if (named) {
    const ns = headers.get('x-namespace')
    const route = config.routes.find((r) => r.name === named && (!ns || r.namespace === ns))
    if (!route) throw notFound(`Route '${named}'${ns ? ` in namespace '${ns}'` : ''} does not exist`, 'route_not_found')
    return route
  }
  // A route that lists the model by name wins over another's model pattern, whatever their order:
  // otherwise an earlier route's `modelPrefix: gpt-4` would silently take `gpt-4o-mini` from the
  // route written for it.
  for (const r of config.routes) if (r.models?.includes(model)) return r
  let catchAll: Route | undefined
  for (const r of config.routes) {
    if (r.rules.some((rule) => rule.serves?.(model))) return r
    if (r.catchAll) catchAll ??= r
  }
  if (catchAll) return catchAll
  throw notFound(`The model '${model}' does not exist or you do not have access to it.`, 'model_not_found', 'model')
}
