// A test upstream that speaks the Bedrock runtime API as
// bedrock-runtime.{region}.amazonaws.com does: POST /model/{modelId}/converse
// (JSON), /converse-stream (the binary application/vnd.amazon.eventstream
// framing, each frame with real CRC32s from node:zlib, not the gateway's own
// code) and /invoke for Titan and Cohere embeddings. Every request's Signature V4 is
// checked by signing it again with aws4fetch from the known test credentials:
// a wrong one is refused 403 InvalidSignatureException as AWS would. Error
// answers are AWS's: the exception name in x-amzn-ErrorType, {"message"}.
//   http://host/mode/<mode>/model/<id>/converse      (base(mode) is the backend url)
// modes: ok (text; a forced toolChoice gets a toolUse of that tool), tool (a toolUse), throttle (429 ThrottlingException),
//        context (400 ValidationException "Input is too long..."),
//        not-ready (429 ModelNotReadyException), denied (403 AccessDeniedException),
//        crc (stream: text, then a frame whose message CRC is wrong),
//        stream-throttle (stream: a throttlingException message before content),
//        cut (stream ends inside a frame)
import type { IncomingMessage, ServerResponse } from 'node:http'
import { crc32 } from 'node:zlib'
import { AwsV4Signer } from 'aws4fetch'
import { readText, startServer, type TestServer } from '../helpers/server.ts'

export const CREDS = { accessKeyId: 'AKIDKORTEXTEST', secretAccessKey: 'kortex-bedrock-test-secret-not-a-real-key', sessionToken: 'kortex-bedrock-test-session-token' }
export const REGION = 'us-west-2'
export const TOOL_USE_ID = 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q'
export const WEATHER_INPUT = { location: 'Seattle, WA', unit: 'celsius' }
export const FORCED_INPUT = { city: 'Paris', temperature: 21 }
export const USAGE = { inputTokens: 25, outputTokens: 15, totalTokens: 150, cacheReadInputTokens: 100, cacheWriteInputTokens: 10 }

export interface Recorded {
  path: string
  headers: IncomingMessage['headers']
  body: any
  /** Whether the request's signature matched the one recomputed here. */
  signed: boolean
}

export interface BedrockUpstream extends TestServer {
  requests: Recorded[]
  readonly last: Recorded | undefined
  base(mode?: string): string
}

/** One event-stream message: prelude, string headers, payload, CRCs (IEEE CRC32 from zlib). */
export function frame(headers: Record<string, string>, payload: object, corruptCrc = false): Buffer {
  const hs = Buffer.concat(
    Object.entries(headers).map(([k, v]) => {
      const name = Buffer.from(k)
      const value = Buffer.from(v)
      const len = Buffer.alloc(2)
      len.writeUInt16BE(value.length)
      return Buffer.concat([Buffer.from([name.length]), name, Buffer.from([7]), len, value])
    }),
  )
  const body = Buffer.from(JSON.stringify(payload))
  const total = 12 + hs.length + body.length + 4
  const out = Buffer.alloc(total)
  out.writeUInt32BE(total, 0)
  out.writeUInt32BE(hs.length, 4)
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8)
  hs.copy(out, 12)
  body.copy(out, 12 + hs.length)
  out.writeUInt32BE((crc32(out.subarray(0, total - 4)) ^ (corruptCrc ? 1 : 0)) >>> 0, total - 4)
  return out
}

const event = (type: string, payload: object, corrupt = false) =>
  // Bedrock pads payloads with a "p" field of varying length so sizes leak nothing.
  frame({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, { ...payload, p: 'abcdefghijklmnopqrstuvwxyzABCDEF'.slice(0, 7) }, corrupt)

const exception = (type: string, message: string) => frame({ ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' }, { message })

/** Recomputes the request's Authorization with aws4fetch over the headers it says it signed. */
async function verify(req: IncomingMessage, text: string): Promise<boolean> {
  const auth = String(req.headers.authorization ?? '')
  const m = /SignedHeaders=([^,]+)/.exec(auth)
  if (!m) return false
  const headers: Record<string, string> = {}
  for (const h of m[1]!.split(';')) if (h !== 'host') headers[h] = String(req.headers[h] ?? '')
  const signed = await new AwsV4Signer({
    method: req.method,
    url: `http://${req.headers.host}${req.url}`,
    headers,
    body: text,
    // Long-lived keys (an IAM user's) sign without a session token; temporary ones with it.
    accessKeyId: CREDS.accessKeyId,
    secretAccessKey: CREDS.secretAccessKey,
    sessionToken: req.headers['x-amz-security-token'] ? CREDS.sessionToken : undefined,
    service: 'bedrock',
    region: REGION,
    datetime: String(req.headers['x-amz-date']),
  }).sign()
  return signed.headers.get('authorization') === auth
}

function awsError(res: ServerResponse, status: number, name: string, message: string) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': 'c3e2f0a4-1b2c-4d5e-8f90-123456789abc' })
  res.end(JSON.stringify({ message }))
}

function answer(mode: string, body: any): { content: object[]; stopReason: string } {
  const last = body.messages?.at?.(-1)
  const result = last?.content?.find?.((b: any) => b.toolResult)?.toolResult
  if (result) return { content: [{ text: `The tool said: ${result.content.map((c: any) => c.text ?? '').join('')}` }], stopReason: 'end_turn' }
  // A forced tool (toolChoice {tool}) is called, as Bedrock's Claude models do; its input fits a {city, temperature} schema.
  const forced = body.toolConfig?.toolChoice?.tool?.name
  if (forced) return { content: [{ toolUse: { toolUseId: TOOL_USE_ID, name: forced, input: FORCED_INPUT } }], stopReason: 'tool_use' }
  // No toolConfig, no tools: a model cannot call what it was not given.
  if (mode === 'tool' && body.toolConfig) return { content: [{ text: 'Let me check.' }, { toolUse: { toolUseId: TOOL_USE_ID, name: 'get_weather', input: WEATHER_INPUT } }], stopReason: 'tool_use' }
  return { content: [{ text: `Hello from ${mode}` }], stopReason: 'end_turn' }
}

function streamFrames(mode: string, body: any): Buffer[] {
  if (mode === 'stream-throttle') return [exception('throttlingException', 'Too many requests, please wait before trying again.')]
  const { content, stopReason } = answer(mode, body)
  const out = [event('messageStart', { role: 'assistant' })]
  content.forEach((b: any, i) => {
    if (b.text !== undefined) {
      const t: string = b.text
      for (const piece of [t.slice(0, 5), t.slice(5)]) if (piece) out.push(event('contentBlockDelta', { contentBlockIndex: i, delta: { text: piece } }))
    } else {
      out.push(event('contentBlockStart', { contentBlockIndex: i, start: { toolUse: { toolUseId: b.toolUse.toolUseId, name: b.toolUse.name } } }))
      const json = JSON.stringify(b.toolUse.input)
      for (const piece of [json.slice(0, 9), json.slice(9)]) out.push(event('contentBlockDelta', { contentBlockIndex: i, delta: { toolUse: { input: piece } } }))
    }
    out.push(event('contentBlockStop', { contentBlockIndex: i }))
  })
  if (mode === 'crc') return [out[0]!, out[1]!, event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' corrupted' } }, true), ...out.slice(2)]
  out.push(event('messageStop', { stopReason }))
  out.push(event('metadata', { usage: USAGE, metrics: { latencyMs: 321 } }))
  if (mode === 'cut') return out.slice(0, -1).concat(out.at(-1)!.subarray(0, 20))
  return out
}

export async function startBedrockUpstream(): Promise<BedrockUpstream> {
  const requests: Recorded[] = []
  const server = await startServer(async (req, res) => {
    const text = await readText(req)
    const m = /^\/mode\/([^/]+)\/model\/([^/]+)\/(converse|converse-stream|invoke)$/.exec(req.url ?? '')
    const signed = await verify(req, text)
    const body = text ? JSON.parse(text) : undefined
    requests.push({ path: req.url ?? '', headers: req.headers, body, signed })
    if (!signed) return awsError(res, 403, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.')
    if (!m) return awsError(res, 404, 'UnknownOperationException', 'not found')
    const [, mode, , op] = m as unknown as [string, string, string, string]
    if (mode === 'throttle') return awsError(res, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.')
    if (mode === 'context') return awsError(res, 400, 'ValidationException', 'Input is too long for requested model.')
    // Converse refuses tool blocks in a conversation that declares no tools.
    const toolBlocks = Array.isArray(body?.messages) && body.messages.some((m: any) => m.content?.some((b: any) => b.toolUse || b.toolResult))
    if ((op === 'converse' || op === 'converse-stream') && toolBlocks && !body.toolConfig) return awsError(res, 400, 'ValidationException', 'The toolConfig field must be defined when using toolUse and toolResult content blocks.')
    if (mode === 'not-ready') return awsError(res, 429, 'ModelNotReadyException', 'Model is not ready to serve inference requests.')
    if (mode === 'denied') return awsError(res, 403, 'AccessDeniedException', "You don't have access to the model with the specified model ID.")
    if (op === 'invoke' && Array.isArray(body.texts)) {
      // Cohere Embed: all texts in one call, the token count in a header.
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-bedrock-input-token-count': String(body.texts.join(' ').split(/\s+/).length) })
      return res.end(JSON.stringify({ id: 'emb-5b9c', response_type: 'embeddings_floats', texts: body.texts, embeddings: body.texts.map((t: string) => [t.length / 10, 0.25]) }))
    }
    if (op === 'invoke') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ embedding: [0.125, -0.5, body.inputText.length / 100], inputTextTokenCount: body.inputText.split(/\s+/).length }))
    }
    if (op === 'converse') {
      const { content, stopReason } = answer(mode, body)
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ output: { message: { role: 'assistant', content } }, stopReason, usage: USAGE, metrics: { latencyMs: 321 } }))
    }
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'c3e2f0a4-1b2c-4d5e-8f90-123456789abc' })
    // Frames split across writes at odd places, as TCP may deliver them.
    const all = Buffer.concat(streamFrames(mode, body))
    for (let i = 0; i < all.length; i += 37) {
      res.write(all.subarray(i, i + 37))
      await new Promise((r) => setImmediate(r))
    }
    res.end()
  })
  return Object.defineProperty(Object.assign(server, { requests, base: (mode = 'ok') => `${server.url}/mode/${mode}` }), 'last', { get: () => requests.at(-1) }) as BedrockUpstream
}

export interface StsUpstream extends TestServer {
  /** The form of each AssumeRoleWithWebIdentity call. */
  calls: URLSearchParams[]
  /** How long the keys it issues last. */
  lifetimeMs: number
}

/**
 * STS's AssumeRoleWithWebIdentity as sts.{region}.amazonaws.com answers it
 * (form-encoded POST, XML answer), issuing CREDS above so the Bedrock upstream
 * accepts requests signed with them; a token other than `token` is refused
 * with STS's InvalidIdentityToken error.
 */
export async function startStsUpstream(token: () => string): Promise<StsUpstream> {
  const calls: URLSearchParams[] = []
  const sts = await startServer(async (req, res) => {
    const form = new URLSearchParams(await readText(req))
    calls.push(form)
    if (form.get('Action') !== 'AssumeRoleWithWebIdentity' || form.get('WebIdentityToken') !== token()) {
      res.writeHead(400, { 'content-type': 'text/xml' })
      return res.end('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>')
    }
    const expiration = new Date(Date.now() + out.lifetimeMs).toISOString().replace(/\.\d{3}Z$/, 'Z')
    res.writeHead(200, { 'content-type': 'text/xml' })
    res.end(`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:kortex:kortex</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>${form.get('RoleArn')}/${form.get('RoleSessionName')}</Arn><AssumedRoleId>AROACLKWSDQRAOEXAMPLE:${form.get('RoleSessionName')}</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <SessionToken>${CREDS.sessionToken}</SessionToken>
      <SecretAccessKey>${CREDS.secretAccessKey}</SecretAccessKey>
      <Expiration>${expiration}</Expiration>
      <AccessKeyId>${CREDS.accessKeyId}</AccessKeyId>
    </Credentials>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`)
  })
  const out = Object.assign(sts, { calls, lifetimeMs: 3600_000 })
  return out
}
