// A test KServe InferenceService: the Hugging Face runtime's OpenAI endpoints
// under /openai/v1 (or /v1 like the native vLLM runtime; `prefix` pins one),
// V1 predict and V2 (Open Inference Protocol) infer, metadata and readiness,
// with KServe's error body {"error": "..."}. For the older combined test it
// also plays Azure OpenAI (deployment and v1 URLs, `api-key` header,
// api-version); test/upstreams/azure.ts is the fuller Azure double.
import type { IncomingMessage } from 'node:http'
import { startServer, type TestServer } from '../helpers/server.ts'
import { chatCompletion } from './openai.ts'

export interface Recorded {
  method: string
  url: string
  headers: IncomingMessage['headers']
  /** Parsed JSON body of a POST (undefined when it is not JSON). */
  body: any
  /** The POST body's exact bytes. */
  raw: Buffer
}

export interface KServeOptions {
  /** Serve the OpenAI endpoints only under `${prefix}/v1` ("/openai": Hugging Face runtime, "": native vLLM). Both when unset. */
  prefix?: string
  /** The model name the OpenAI endpoints serve. */
  llm?: string
}

export interface KServeUpstream extends TestServer {
  requests: Recorded[]
  /** The last request received. */
  last(): Recorded
  /** Flip what the readiness endpoints report. */
  state: { ready: boolean }
}

export const MODEL = 'sklearn-iris'
/** A V2 model whose answer arrives in two parts, `SLOW_MS` apart. */
export const SLOW_MODEL = 'slow-model'
export const SLOW_MS = 300
export const AZURE_KEY = 'azure-key-0123456789'

const USAGE = { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 }

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export async function startKServeUpstream(opts: KServeOptions = {}): Promise<KServeUpstream> {
  const requests: Recorded[] = []
  const state = { ready: true }
  const llm = opts.llm ?? 'llama'
  const prefix = opts.prefix === undefined ? '(?:/openai)?' : opts.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const openaiPath = new RegExp(`^${prefix}/v1/(chat/completions|completions|embeddings|models)$`)
  const server = await startServer(async (req, res) => {
    const url = req.url ?? ''
    const raw = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0)
    let body: any
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined
    } catch {
      body = undefined
    }
    requests.push({ method: req.method ?? '', url, headers: req.headers, body, raw })
    const json = (status: number, o: unknown, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-upstream-secret-header': 'must-not-leak', ...extra })
      res.end(JSON.stringify(o))
    }
    const path = url.split('?')[0]!
    // Azure OpenAI (kept for test/providers/kserve-azure.test.ts)
    if (path.startsWith('/openai/deployments/') || path.startsWith('/azure/openai/v1/')) {
      if (req.headers['api-key'] !== AZURE_KEY) return json(401, { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.' } })
      if (path.startsWith('/openai/deployments/') && !/api-version=/.test(url)) return json(404, { error: { code: '404', message: 'Resource not found' } })
      return json(200, chatCompletion(body.model ?? 'gpt-4o', `azure ${path}`))
    }
    // OpenAI-compatible (Hugging Face runtime prefix or native vLLM)
    const oai = openaiPath.exec(path)
    if (oai) {
      const op = oai[1]!
      if (op === 'models') {
        if (req.method !== 'GET') return json(405, { detail: 'Method Not Allowed' })
        if (!state.ready) return json(503, { error: `Model with name ${llm} is not ready.` })
        return json(200, { object: 'list', data: [{ id: llm, object: 'model', created: 0, owned_by: 'kserve' }] })
      }
      if (req.method !== 'POST') return json(405, { detail: 'Method Not Allowed' })
      if (body?.model !== llm) return json(404, { error: { message: `The model \`${body?.model}\` does not exist.`, type: 'NotFoundError', param: null, code: 404 } })
      if (op === 'embeddings') {
        const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input]
        return json(200, { object: 'list', model: llm, data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.25, -0.5, 0.125] })), usage: { prompt_tokens: 4, total_tokens: 4 } })
      }
      const chat = op === 'chat/completions'
      const text = `kserve ${path}`
      if (!body.stream) {
        if (chat) return json(200, chatCompletion(llm, text, USAGE))
        return json(200, { id: 'cmpl-k1', object: 'text_completion', created: 1, model: llm, choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop' }], usage: USAGE })
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
      const send = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`)
      const chunk = (choice: Record<string, unknown>) =>
        chat
          ? { id: 'chatcmpl-k1', object: 'chat.completion.chunk', created: 1, model: llm, choices: [{ index: 0, logprobs: null, finish_reason: null, ...choice }] }
          : { id: 'cmpl-k1', object: 'text_completion', created: 1, model: llm, choices: [{ index: 0, logprobs: null, finish_reason: null, text: '', ...choice }] }
      const pieces = ['kserve', ' stream']
      if (chat) send(chunk({ delta: { role: 'assistant', content: '' } }))
      for (const p of pieces) send(chunk(chat ? { delta: { content: p } } : { text: p }))
      send(chunk(chat ? { delta: {}, finish_reason: 'stop' } : { finish_reason: 'stop' }))
      if (body.stream_options?.include_usage) send({ id: 'chatcmpl-k1', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 1, model: llm, choices: [], usage: USAGE })
      res.write('data: [DONE]\n\n')
      return res.end()
    }
    // V2, the Open Inference Protocol
    if (path === '/v2/health/live') return json(200, { live: true })
    if (path === '/v2/health/ready') return json(200, { ready: state.ready })
    if (path === '/v2') return json(200, { name: 'kserve', version: '0.15.0', extensions: [] })
    if (path === `/v2/models/${MODEL}/ready`) return state.ready ? json(200, { name: MODEL, ready: true }) : json(503, { error: `Model with name ${MODEL} is not ready.` })
    if (path === `/v2/models/${MODEL}`) {
      return json(200, { name: MODEL, versions: null, platform: 'sklearn', inputs: [{ name: 'input-0', datatype: 'FP32', shape: [-1, 4] }], outputs: [{ name: 'output-0', datatype: 'INT64', shape: [-1] }] })
    }
    const v2 = /^\/v2\/models\/([^/]+)\/infer$/.exec(path)
    if (v2) {
      if (v2[1] === SLOW_MODEL) {
        const text = JSON.stringify({ model_name: SLOW_MODEL, id: 'slow-1', outputs: [{ name: 'output-0', shape: [1], datatype: 'INT64', data: [7] }] })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write(text.slice(0, 20))
        await new Promise((r) => setTimeout(r, SLOW_MS))
        return res.end(text.slice(20))
      }
      if (v2[1] !== MODEL) return json(404, { error: `Model with name ${v2[1]} does not exist.` })
      const binaryLength = req.headers['inference-header-content-length']
      if (binaryLength) {
        // Binary tensor data extension: JSON header, then the tensor bytes; answer in kind.
        const header = JSON.parse(raw.subarray(0, Number(binaryLength)).toString('utf8'))
        const tensor = raw.subarray(Number(binaryLength))
        const out = Buffer.from(JSON.stringify({ model_name: MODEL, id: header.id ?? 'bin-1', outputs: [{ name: 'output-0', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }] }))
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(out.length), 'x-upstream-secret-header': 'must-not-leak' })
        return res.end(Buffer.concat([out, tensor]))
      }
      const input = body?.inputs?.[0]
      if (!input || !Array.isArray(input.shape) || !Array.isArray(input.data)) return json(400, { error: 'Invalid input: inputs[0] needs name, shape, datatype and data' })
      const rows = input.shape[0]
      return json(200, { model_name: MODEL, model_version: null, id: body.id ?? 'f0222600-353f-47df-8d9d-c96d96fa894e', parameters: null, outputs: [{ name: 'output-0', shape: [rows], datatype: 'INT64', parameters: null, data: Array(rows).fill(1) }] })
    }
    // V1
    const v1 = /^\/v1\/models\/([^/:]+)(:predict)?$/.exec(path)
    if (v1) {
      if (v1[1] !== MODEL) return json(404, { error: `Model with name ${v1[1]} does not exist.` })
      if (!v1[2]) return state.ready ? json(200, { name: MODEL, ready: true }) : json(503, { error: `Model with name ${MODEL} is not ready.` })
      if (!Array.isArray(body?.instances)) return json(400, { error: 'Expected "instances" to be a list' })
      return json(200, { predictions: body.instances.map(() => 1) })
    }
    json(404, { error: `no route for ${path}` })
  })
  return { ...server, requests, state, last: () => requests.at(-1)! }
}
