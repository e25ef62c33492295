// Where a Google model lives and how a request to it is sent: the URL for
// each flavor, its credentials, and Google's error bodies classified.
import type { Backend } from '../../config/compile.ts'
import { UpstreamError, fromFetchError } from '../errors.ts'
import type { UpstreamCall } from '../types.ts'
import { tokenSourceFor } from './auth.ts'
import { fromGoogleResponse } from './errors.ts'

export type GoogleFlavor = 'gemini' | 'vertex'

/** The model's resource URL, to which `:method` is appended. */
export function modelUrl(flavor: GoogleFlavor, backend: Backend, model: string, publisher = 'google'): string {
  const root = backend.baseUrl.replace(/\/+$/, '')
  // Vertex spells versions claude-sonnet-4-5@20250929: the @ stays as it is.
  const id = encodeURIComponent(model.replace(/^(?:publishers\/[^/]+\/)?models\//, '')).replace(/%40/g, '@')
  if (flavor === 'gemini') return `${/\/v1(beta)?$/.test(root) ? root : `${root}/v1beta`}/models/${id}`
  const ext = backend.spec.external
  const base = /\/v1(beta1)?$/.test(root) ? root : `${root}/v1`
  return `${base}/projects/${encodeURIComponent(ext?.project ?? '')}/locations/${encodeURIComponent(ext?.location ?? '')}/publishers/${publisher}/models/${id}`
}

/**
 * The Gemini API's models list (GET {root}/v1beta/models), free and keyed like every call: the
 * health probe's target. One model is enough to know the key and the service answer.
 */
export function modelsListUrl(backend: Backend): string {
  const root = backend.rootUrl.replace(/\/+$/, '')
  return `${/\/v1(beta)?$/.test(root) ? root : `${root}/v1beta`}/models?pageSize=1`
}

async function headers(flavor: GoogleFlavor, call: UpstreamCall): Promise<Headers> {
  const h = new Headers(call.backend.headers)
  h.set('content-type', 'application/json')
  if (flavor === 'gemini') {
    if (call.backend.apiKey) h.set('x-goog-api-key', call.backend.apiKey)
  } else {
    h.set('authorization', `Bearer ${await tokenSourceFor(call.backend.apiKey).token(call.fetch)}`)
  }
  return h
}

/** POSTs `body` as JSON to a Google endpoint; resolves to a 2xx response, throws UpstreamError for anything else. */
export async function postGoogle(flavor: GoogleFlavor, call: UpstreamCall, url: string, body: unknown): Promise<Response> {
  if (call.backend.missingSecret) throw new UpstreamError('unavailable', `credentials not configured (set ${call.backend.missingSecret})`)
  const h = await headers(flavor, call)
  let res: Response
  try {
    res = await call.fetch(url, { method: 'POST', headers: h, body: JSON.stringify(body), signal: call.signal })
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  if (!res.ok) throw await fromGoogleResponse(res, call.backend.apiKey)
  return res
}

