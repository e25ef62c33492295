// Where the request goes: a model the key may use, served by the first route
// that fits it (or the one X-Route names, when the key may use that).
import type { Route } from '../config/compile.ts'
import { checkModelAllowed } from '../auth/authenticate.ts'
import { resolveRoute } from '../routing/resolve.ts'
import type { Inference } from './inference.ts'
import type { Services } from './services.ts'

export function route(s: Services, f: Inference): Route {
  const { config, principal, request } = f
  checkModelAllowed(principal, request.model)
  const route = resolveRoute(config, request.model, f.req.headers, principal)
  s.sync(config)
  f.scrub = s.scrubbers.route(config, route)
  return route
}
