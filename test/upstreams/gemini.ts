// A test upstream that speaks Google's Gemini wire formats: the Generative
// Language API (x-goog-api-key) and Vertex AI (OAuth2 bearer), with
// :generateContent, :streamGenerateContent?alt=sse (`data: {...}\r\n\r\n`
// events, the last carrying finishReason and usageMetadata, then the body
// ends), :batchEmbedContents and Vertex's :predict for embeddings, Google's
// error bodies {"error": {"code", "message", "status"}}, and an OAuth2 token
// endpoint (POST /token) that verifies the service-account JWT's RS256
// signature with the public key before it issues an access token.
// The first path segment after /mode/ picks a behaviour:
//   http://host/mode/<mode>/v1beta/models/{model}:generateContent   (gemini)
//   http://host/mode/<mode>/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent   (vertex)
// GET /mode/<mode>/v1beta/models lists models (the health probe's target).
// modes: ok, 429, 503, 500, context (INVALID_ARGUMENT, token count too big),
//        blocked (promptFeedback.blockReason, no candidates), safety (a
//        candidate stopped by SAFETY), cut (a stream without finishReason).
// A request with tools is answered with a functionCall (with a thoughtSignature
// that must come back with it in the history, as Gemini 3 wants), and one whose last
// turn holds a functionResponse with "The tool said: <response>"; a JSON-mode
// request with JSON fitting its responseJsonSchema.
import { generateKeyPairSync, verify } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readText, startServer, type TestServer } from '../helpers/server.ts'
import { sampleOf } from './sample.ts'

export interface Recorded {
  path: string
  headers: IncomingMessage['headers']
  body: any
}

export interface GeminiUpstream extends TestServer {
  requests: Recorded[]
  readonly last: Recorded | undefined
  /** JWT claims of every token request that verified. */
  tokenRequests: Array<Record<string, any>>
  /** expires_in of the tokens issued from now on. */
  expiresIn: number
  base(mode?: string): string
  /** A service-account key file whose token_uri is this server's /token, signed by a key pair only this server's verifier knows. */
  serviceAccount: string
}

export const API_KEY = 'gemini-test-key-not-a-real-one'
export const WEATHER_ARGS = { location: 'San Francisco, CA', unit: 'celsius' }
export const USAGE = { promptTokenCount: 120, candidatesTokenCount: 15, totalTokenCount: 140, cachedContentTokenCount: 100, thoughtsTokenCount: 5 }
export const MODEL_VERSION = 'gemini-2.5-flash-001'
/** Sent with every function call, and required back with it in the history, as Gemini 3 does. */
export const THOUGHT_SIGNATURE = 'CiQB0e2Kb7+test/signature=='
export const SCOPE = 'https://www.googleapis.com/auth/cloud-platform'

export const googleError = (code: number, status: string, message: string) => JSON.stringify({ error: { code, message, status } })

const ERRORS: Record<string, [number, string, string]> = {
  '429': [429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
  '503': [503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  '500': [500, 'INTERNAL', 'An internal error has occurred.'],
  context: [400, 'INVALID_ARGUMENT', 'The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).'],
}

const b64urlJson = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'))

function answer(body: any, mode: string): { parts: object[]; finishReason: string } {
  const last = body.contents?.at?.(-1)
  const response = last?.parts?.find((p: any) => p.functionResponse)?.functionResponse
  if (response) return { parts: [{ text: `The tool said: ${JSON.stringify(response.response)}` }], finishReason: 'STOP' }
  if (body.tools?.[0]?.functionDeclarations?.length) {
    const name = body.tools[0].functionDeclarations[0].name
    return { parts: [{ functionCall: { name, args: WEATHER_ARGS }, thoughtSignature: THOUGHT_SIGNATURE }], finishReason: 'STOP' }
  }
  const g = body.generationConfig ?? {}
  if (g.responseMimeType === 'application/json') return { parts: [{ text: JSON.stringify(g.responseJsonSchema ? sampleOf(g.responseJsonSchema) : { ok: true }) }], finishReason: 'STOP' }
  if (mode === 'safety') return { parts: [{ text: 'I started to' }], finishReason: 'SAFETY' }
  return { parts: [{ text: `Hello from ${mode}` }], finishReason: 'STOP' }
}

function response(body: any, mode: string) {
  if (mode === 'blocked') return { promptFeedback: { blockReason: 'SAFETY', safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH' }] }, usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 }, modelVersion: MODEL_VERSION }
  const a = answer(body, mode)
  return { candidates: [{ content: { role: 'model', parts: a.parts }, finishReason: a.finishReason, index: 0 }], usageMetadata: USAGE, modelVersion: MODEL_VERSION, responseId: 'resp-gemini-1' }
}

/** The same answer as SSE events: text in pieces, the last event with finishReason and usage. */
function streamEvents(body: any, mode: string): object[] {
  const r: any = response(body, mode)
  if (!r.candidates) return [r]
  const { parts, finishReason } = r.candidates[0].content.parts ? { parts: r.candidates[0].content.parts, finishReason: r.candidates[0].finishReason } : { parts: [], finishReason: 'STOP' }
  const pieces: object[][] = parts[0]?.text ? (parts[0].text.match(/.{1,6}/gs) as string[]).map((t) => [{ text: t }]) : [parts]
  return pieces.map((p, i) => {
    const lastOne = i === pieces.length - 1
    const cand: any = { content: { role: 'model', parts: p }, index: 0 }
    if (lastOne && mode !== 'cut') cand.finishReason = finishReason
    return { candidates: [cand], usageMetadata: lastOne ? USAGE : { promptTokenCount: 120, totalTokenCount: 120 }, modelVersion: MODEL_VERSION, responseId: 'resp-gemini-1' }
  })
}

/** Claude on Vertex: the Messages API answer, whole or as its SSE events; the body must carry Vertex's anthropic_version and no model. */
function claudeAnswer(res: ServerResponse, body: any, stream: boolean) {
  if (body.anthropic_version !== 'vertex-2023-10-16' || 'model' in body) {
    res.writeHead(400, { 'content-type': 'application/json' })
    return res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'anthropic_version: vertex-2023-10-16 required; model: Extra inputs are not permitted' } }))
  }
  const usage = { input_tokens: 20, output_tokens: 6 }
  const msg = { id: 'msg_vrtx_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'Hello from Claude' }], stop_reason: 'end_turn', stop_sequence: null, usage }
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(JSON.stringify(msg))
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  const events: Array<[string, object]> = [
    ['message_start', { type: 'message_start', message: { ...msg, content: [], stop_reason: null, usage: { input_tokens: 20, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello from ' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Claude' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } }],
    ['message_stop', { type: 'message_stop' }],
  ]
  for (const [e, d] of events) res.write(`event: ${e}\ndata: ${JSON.stringify(d)}\n\n`)
  res.end()
}

export async function startGeminiUpstream(): Promise<GeminiUpstream> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  const requests: Recorded[] = []
  const tokenRequests: Array<Record<string, any>> = []
  const issued = new Map<string, number>() // access token -> expiry (ms)
  let url = ''
  const up = {
    expiresIn: 3600,
  }

  const send = (res: ServerResponse, status: number, body: string, type = 'application/json; charset=UTF-8') => {
    res.writeHead(status, { 'content-type': type })
    res.end(body)
  }

  async function token(req: IncomingMessage, res: ServerResponse) {
    const form = new URLSearchParams(await readText(req))
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return send(res, 400, JSON.stringify({ error: 'unsupported_grant_type', error_description: 'Invalid grant_type' }))
    const [h, c, s] = (form.get('assertion') ?? '').split('.')
    const ok = h && c && s && verify('RSA-SHA256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(s, 'base64url'))
    if (!ok) return send(res, 400, JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }))
    const header = b64urlJson(h)
    const claims = b64urlJson(c)
    const now = Math.floor(Date.now() / 1000)
    if (header.alg !== 'RS256' || claims.aud !== `${url}/token` || claims.iss !== 'kortex@test-project.iam.gserviceaccount.com' || claims.scope !== SCOPE || !(claims.exp > now && claims.exp > claims.iat && claims.exp - claims.iat <= 3600)) {
      return send(res, 400, JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT: claims' }))
    }
    tokenRequests.push(claims)
    const access = `ya29.test-${tokenRequests.length}`
    issued.set(access, Date.now() + up.expiresIn * 1000)
    send(res, 200, JSON.stringify({ access_token: access, expires_in: up.expiresIn, token_type: 'Bearer' }))
  }

  /** models.list (GET /v1beta/models, pageSize and pageToken): keyed like every call, a mode's error as the others. */
  function listModels(req: IncomingMessage, res: ServerResponse, mode: string, rest: string) {
    requests.push({ path: rest, headers: req.headers, body: undefined })
    if (req.headers['x-goog-api-key'] !== API_KEY) return send(res, 403, googleError(403, 'PERMISSION_DENIED', 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.'))
    const err = ERRORS[mode]
    if (err) return send(res, err[0], googleError(...err))
    const size = Number(new URL(rest, 'http://x').searchParams.get('pageSize') ?? 50)
    const models = ['gemini-2.0-flash', 'gemini-2.5-pro'].slice(0, size).map((m) => ({ name: `models/${m}`, displayName: m, supportedGenerationMethods: ['generateContent', 'countTokens'] }))
    send(res, 200, JSON.stringify({ models, ...(size < 2 ? { nextPageToken: 'page-2' } : {}) }))
  }

  const server = await startServer(async (req, res) => {
    const path = req.url ?? ''
    if (req.method === 'POST' && path === '/token') return token(req, res)
    const m = /^\/mode\/([^/]+)(\/.*)$/.exec(path)
    const mode = m?.[1] ?? 'ok'
    const rest = m?.[2] ?? path
    if (req.method === 'GET' && /^\/v1beta\/models(\?|$)/.test(rest)) return listModels(req, res, mode, rest)
    const text = await readText(req)
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      return send(res, 400, googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'))
    }
    requests.push({ path: rest, headers: req.headers, body })
    const claude = /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/anthropic\/models\/[^/:]+:(stream)?[rR]awPredict$/.exec(rest)
    const vertex = !!claude || /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/[^/:]+:/.test(rest)
    const gemini = /^\/v1beta\/models\/[^/:]+:/.test(rest)
    if (!vertex && !gemini) return send(res, 404, googleError(404, 'NOT_FOUND', `Requested entity was not found: ${rest}`))
    if (gemini && req.headers['x-goog-api-key'] !== API_KEY) {
      return send(res, 400, JSON.stringify({ error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } }))
    }
    if (vertex) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
      const exp = bearer ? issued.get(bearer) : undefined
      if (!exp || exp <= Date.now()) return send(res, 401, googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.'))
    }
    if (claude) return claudeAnswer(res, body, !!claude[1])
    const unsigned = body.contents?.find?.((c: any) => c.role === 'model' && c.parts?.some((p: any) => p.functionCall && p.thoughtSignature !== THOUGHT_SIGNATURE))
    if (unsigned) return send(res, 400, googleError(400, 'INVALID_ARGUMENT', 'Function call is missing a thought_signature in functionCall parts.'))
    const err = ERRORS[mode]
    if (err) return send(res, err[0], googleError(...err))
    if (rest.endsWith(':batchEmbedContents')) {
      return send(res, 200, JSON.stringify({ embeddings: body.requests.map((r: any, i: number) => ({ values: [i, r.content.parts[0].text.length, 0.5] })) }))
    }
    if (rest.endsWith(':predict')) {
      return send(res, 200, JSON.stringify({ predictions: body.instances.map((x: any, i: number) => ({ embeddings: { values: [i, x.content.length, 0.25], statistics: { token_count: 4, truncated: false } } })), metadata: { billableCharacterCount: 20 } }))
    }
    if (rest.endsWith(':generateContent')) return send(res, 200, JSON.stringify(response(body, mode)))
    if (rest.endsWith(':streamGenerateContent?alt=sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const ev of streamEvents(body, mode)) res.write(`data: ${JSON.stringify(ev)}\r\n\r\n`)
      return res.end()
    }
    send(res, 404, googleError(404, 'NOT_FOUND', 'no such method'))
  })
  url = server.url
  const serviceAccount = JSON.stringify({
    type: 'service_account',
    project_id: 'test-project',
    private_key_id: 'key-1',
    private_key: privateKey,
    client_email: 'kortex@test-project.iam.gserviceaccount.com',
    client_id: '1234567890',
    token_uri: `${url}/token`,
  })
  const out = Object.assign(up, server, { requests, tokenRequests, serviceAccount, base: (mode = 'ok') => `${url}/mode/${mode}` })
  return Object.defineProperty(out, 'last', { get: () => requests[requests.length - 1] }) as GeminiUpstream
}
