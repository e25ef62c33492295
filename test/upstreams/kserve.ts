// A test KServe InferenceService: the Hugging Face runtime's OpenAI endpoints
// under /openai/v1 (or /v1 like the native vLLM runtime), V1 predict and V2
// (Open Inference Protocol) infer, metadata and readiness, with KServe's
// error body {"error": "..."}. It also plays Azure OpenAI (deployment and
// v1 URLs, `api-key` header, api-version) so one server covers both.
import type { IncomingMessage } from 'node:http'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'
import { chatCompletion } from './openai.ts'

export interface Recorded {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: any
}

export interface KServeUpstream extends TestServer {
  requests: Recorded[]
}

export const MODEL = 'sklearn-iris'
export const AZURE_KEY = 'azure-key-0123456789'

export async function startKServeUpstream(): Promise<KServeUpstream> {
  const requests: Recorded[] = []
  const server = await startServer(async (req, res) => {
    const url = req.url ?? ''
    const body = req.method === 'POST' ? await readJson(req) : undefined
    requests.push({ method: req.method ?? '', url, headers: req.headers, body })
    const json = (status: number, o: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-upstream-secret-header': 'must-not-leak' })
      res.end(JSON.stringify(o))
    }
    const path = url.split('?')[0]!
    // Azure OpenAI
    if (path.startsWith('/openai/deployments/') || path.startsWith('/azure/openai/v1/')) {
      if (req.headers['api-key'] !== AZURE_KEY) return json(401, { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.' } })
      if (path.startsWith('/openai/deployments/') && !/api-version=/.test(url)) return json(404, { error: { code: '404', message: 'Resource not found' } })
      return json(200, chatCompletion(body.model ?? 'gpt-4o', `azure ${path}`))
    }
    // OpenAI-compatible (Hugging Face runtime prefix or native vLLM)
    const oai = /^(\/openai)?\/v1\/(chat\/completions|completions|embeddings|models)$/.exec(path)
    if (oai) {
      if (oai[2] === 'models') return json(200, { object: 'list', data: [{ id: 'llama', object: 'model', created: 0, owned_by: 'kserve' }] })
      if (oai[2] !== 'chat/completions') return json(404, { error: 'not served' })
      if (body.model !== 'llama') return json(404, { error: { message: `The model \`${body.model}\` does not exist.`, type: 'NotFoundError', param: null, code: 404 } })
      if (!body.stream) return json(200, chatCompletion('llama', `kserve ${path}`))
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const delta of [{ role: 'assistant', content: '' }, { content: 'kserve' }, { content: ' stream' }]) {
        res.write(`data: ${JSON.stringify({ id: 'cmpl-x', object: 'chat.completion.chunk', created: 1, model: 'llama', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] })}\n\n`)
      }
      res.write(`data: ${JSON.stringify({ id: 'cmpl-x', object: 'chat.completion.chunk', created: 1, model: 'llama', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] })}\n\n`)
      res.write('data: [DONE]\n\n')
      return res.end()
    }
    // V2, the Open Inference Protocol
    if (path === '/v2/health/ready' || path === '/v2/health/live') return json(200, { [path.endsWith('ready') ? 'ready' : 'live']: true })
    if (path === `/v2/models/${MODEL}/ready`) return json(200, { name: MODEL, ready: true })
    if (path === `/v2/models/${MODEL}`) return json(200, { name: MODEL, versions: null, platform: 'sklearn', inputs: [], outputs: [] })
    const v2 = /^\/v2\/models\/([^/]+)\/infer$/.exec(path)
    if (v2) {
      if (v2[1] !== MODEL) return json(404, { error: `Model with name ${v2[1]} does not exist.` })
      const input = body.inputs[0]
      const rows = input.shape[0]
      return json(200, { model_name: MODEL, model_version: null, id: body.id ?? 'f0222600-353f-47df-8d9d-c96d96fa894e', parameters: null, outputs: [{ name: 'output-0', shape: [rows], datatype: 'INT64', parameters: null, data: Array(rows).fill(1) }] })
    }
    // V1
    const v1 = /^\/v1\/models\/([^/:]+)(:predict)?$/.exec(path)
    if (v1) {
      if (v1[1] !== MODEL) return json(404, { error: `Model with name ${v1[1]} does not exist.` })
      if (!v1[2]) return json(200, { name: MODEL, ready: true })
      return json(200, { predictions: body.instances.map(() => 1) })
    }
    json(404, { error: `no route for ${path}` })
  })
  return { ...server, requests }
}
