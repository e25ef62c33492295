// Which route serves a request: the one the client names with X-Route
// (the old operator's header), else the first route that lists the model,
// else the first whose rules' model conditions serve it, else the first
// catch-all route.
//
// X-Route never widens what a key may do: a key restricted to some models
// may name only a route that serves the model it asks for, and the route
// the model has without the header keeps its limits (see admission.ts).
import { GatewayError, notFound } from '../api/errors.ts'
import type { CompiledConfig, Principal, Route } from '../config/compile.ts'

export function resolveRoute(config: CompiledConfig, model: string, headers: Headers, principal?: Principal): Route {
  const named = headers.get('x-route')
  if (named) {
    const ns = headers.get('x-namespace')
    const route = config.routes.find((r) => r.name === named && (!ns || r.namespace === ns))
    if (!route) throw notFound(`Route '${named}'${ns ? ` in namespace '${ns}'` : ''} does not exist`, 'route_not_found')
    if (principal?.models?.length && !serves(route, model)) {
      throw new GatewayError(403, `The route '${named}' does not serve the model '${model}'; the API key '${principal.name}' may name (X-Route) only a route that serves the model it asks for.`, 'permission_error', 'route_not_allowed', 'model')
    }
    return route
  }
  const route = modelRoute(config, model)
  if (!route) throw notFound(`The model '${model}' does not exist or you do not have access to it.`, 'model_not_found', 'model')
  return route
}

/** The route a model resolves to without X-Route, if any. */
export function modelRoute(config: CompiledConfig, model: string): Route | undefined {
  // A route that lists the model by name wins over another's model pattern, whatever their order:
  // otherwise an earlier route's `modelPrefix: gpt-4` would silently take `gpt-4o-mini` from the
  // route written for it.
  for (const r of config.routes) if (r.models?.includes(model)) return r
  let catchAll: Route | undefined
  for (const r of config.routes) {
    if (r.rules.some((rule) => rule.serves?.(model))) return r
    if (r.catchAll) catchAll ??= r
  }
  return catchAll
}

/** Whether a route serves `model`: it lists it, a rule's model condition takes it, or it takes any model. */
export function serves(route: Route, model: string): boolean {
  return route.catchAll || Boolean(route.models?.includes(model)) || route.rules.some((r) => r.serves?.(model))
}
