// GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items:
// reading back stored responses. Another scope's response is a 404 exactly
// like a missing one, so ids leak nothing across keys.
import type { IngressContext } from '../ingress.ts'
import { GatewayError, badRequest, errorResponse, notFound } from '../errors.ts'
import { deleteResponse, loadResponse } from './store.ts'

type Ctx = Pick<IngressContext, 'store' | 'scope'>

const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })
const missing = (id: string) => notFound(`Response with id '${id}' not found.`, 'not_found')

/** Serves the stored-response paths; undefined for any other path. Errors are answered, not thrown. */
export async function responsesRoute(method: string, pathname: string, query: URLSearchParams, ctx: Ctx): Promise<Response | undefined> {
  const m = /^\/v1\/responses\/([^/]+)(\/input_items)?\/?$/.exec(pathname)
  if (!m) return undefined
  const id = decodeURIComponent(m[1]!)
  try {
    if (m[2]) {
      if (method !== 'GET') throw notAllowed(method, pathname)
      return await inputItems(id, query, ctx)
    }
    return await responseById(method, id, query, ctx)
  } catch (e) {
    if (e instanceof GatewayError) return errorResponse(e)
    throw e
  }
}

const notAllowed = (method: string, path: string) => new GatewayError(405, `${method} is not allowed on ${path}`, 'invalid_request_error', 'method_not_allowed')

/** GET: the stored Response object. DELETE: forgets it. Throws GatewayErrors. */
export async function responseById(method: string, id: string, query: URLSearchParams, ctx: Ctx): Promise<Response> {
  if (method !== 'GET' && method !== 'DELETE') throw notAllowed(method, `/v1/responses/${id}`)
  const stored = await loadResponse(ctx.store, id, await ctx.scope())
  if (!stored) throw missing(id)
  if (method === 'DELETE') {
    await deleteResponse(ctx.store, id)
    return json({ id, object: 'response.deleted', deleted: true })
  }
  if (query.get('stream') === 'true') throw badRequest('Streaming a stored response again is not supported by this gateway.', 'stream', 'unsupported_value')
  return json(stored.response)
}

/** This turn's input items, as OpenAI lists them: newest first unless `order=asc`, `limit` 1–100 (20), `after` an item id. */
export async function inputItems(id: string, query: URLSearchParams, ctx: Ctx): Promise<Response> {
  const stored = await loadResponse(ctx.store, id, await ctx.scope())
  if (!stored) throw missing(id)
  const order = query.get('order') ?? 'desc'
  if (order !== 'asc' && order !== 'desc') throw badRequest("Invalid 'order': expected 'asc' or 'desc'.", 'order', 'invalid_value')
  const limit = query.has('limit') ? Number(query.get('limit')) : 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw badRequest("Invalid 'limit': expected an integer from 1 to 100.", 'limit', 'invalid_value')
  let items = order === 'asc' ? stored.input : [...stored.input].reverse()
  const after = query.get('after')
  if (after) items = items.slice(items.findIndex((x) => x.id === after) + 1)
  const data = items.slice(0, limit)
  return json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: items.length > limit })
}
