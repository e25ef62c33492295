// A test Azure OpenAI resource. Both URL styles:
//   /openai/deployments/{deployment}/{chat/completions|completions|embeddings}?api-version=...
//   /openai/v1/{chat/completions|completions|embeddings}   (deployment in body.model)
// It checks the `api-key` header (a wrong one gets Azure's 401 body), needs
// api-version on deployment URLs (404 "Resource not found" without),
// refuses `stream_options` on api-versions older than 2024-09-01 the way
// Azure did, streams like Azure (a first chunk with no choices and only
// prompt_filter_results), and answers a prompt containing "trigger-filter"
// with its content_filter error.
import type { IncomingMessage } from 'node:http'
import { readJson, startServer, type TestServer } from '../helpers/server.ts'
import { chatCompletion } from './openai.ts'

export const AZURE_API_KEY = 'azure-test-key-5f0c2a9e'
export const DEPLOYMENTS = ['gpt4o-prod', 'embed-small', 'instruct']

export interface AzureRecorded {
  method: string
  /** Path and query as received. */
  url: string
  path: string
  query: URLSearchParams
  headers: IncomingMessage['headers']
  body: any
}

export interface AzureUpstream extends TestServer {
  requests: AzureRecorded[]
  last(): AzureRecorded
}

const USAGE = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 }
const FILTER_OK = { hate: { filtered: false, severity: 'safe' }, self_harm: { filtered: false, severity: 'safe' }, sexual: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' } }

export async function startAzureUpstream(): Promise<AzureUpstream> {
  const requests: AzureRecorded[] = []
  const server = await startServer(async (req, res) => {
    const url = req.url ?? ''
    const u = new URL(url, 'http://azure.test')
    const body = req.method === 'POST' ? await readJson(req) : undefined
    requests.push({ method: req.method ?? '', url, path: u.pathname, query: u.searchParams, headers: req.headers, body })
    const json = (status: number, o: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'apim-request-id': 'b3b7c6a0-0000-4000-8000-000000000000', 'x-ms-region': 'East US' })
      res.end(JSON.stringify(o))
    }
    const err = (status: number, code: string, message: string, extra: Record<string, unknown> = {}) => json(status, { error: { code, message, ...extra } })

    if (req.headers['api-key'] !== AZURE_API_KEY) {
      return err(401, '401', 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.')
    }
    let deployment: string | undefined
    let op: string | undefined
    const dep = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/.exec(u.pathname)
    const v1 = /^\/openai\/v1\/(chat\/completions|completions|embeddings)$/.exec(u.pathname)
    const version = u.searchParams.get('api-version')
    if (dep) {
      if (!version) return err(404, '404', 'Resource not found')
      if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(version)) return err(400, 'BadRequest', 'API version not supported')
      deployment = decodeURIComponent(dep[1]!)
      op = dep[2]
    } else if (v1) {
      if (version && version !== 'preview' && version !== 'latest') return err(400, 'BadRequest', 'API version not supported')
      deployment = body?.model
      op = v1[1]
    } else return err(404, '404', 'Resource not found')
    if (!deployment || !DEPLOYMENTS.includes(deployment)) {
      return err(404, 'DeploymentNotFound', 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.')
    }
    if (body?.stream_options && version && /^\d{4}-\d{2}-\d{2}/.test(version) && version.slice(0, 10) < '2024-09-01') {
      return json(400, { error: { message: 'Unrecognized request argument supplied: stream_options', type: 'invalid_request_error', param: null, code: null } })
    }
    if (JSON.stringify(body?.messages ?? body?.prompt ?? '').includes('trigger-filter')) {
      return json(400, {
        error: {
          message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
          type: null,
          param: 'prompt',
          code: 'content_filter',
          status: 400,
          innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { ...FILTER_OK, violence: { filtered: true, severity: 'high' } } },
        },
      })
    }
    const text = `azure ${op} ${deployment}`
    if (op === 'embeddings') {
      const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input]
      return json(200, { object: 'list', model: 'text-embedding-3-small', data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.5, 0.25] })), usage: { prompt_tokens: 3, total_tokens: 3 } })
    }
    if (op === 'completions' && !body.stream) {
      return json(200, { id: 'cmpl-az1', object: 'text_completion', created: 1, model: 'gpt-35-turbo-instruct', choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop', content_filter_results: FILTER_OK }], usage: USAGE })
    }
    if (!body.stream) {
      const c = chatCompletion('gpt-4o-2024-11-20', text, USAGE) as Record<string, any>
      c.prompt_filter_results = [{ prompt_index: 0, content_filter_results: FILTER_OK }]
      c.choices[0].content_filter_results = FILTER_OK
      return json(200, c)
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
    const send = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`)
    const base = { id: 'chatcmpl-az1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-11-20', system_fingerprint: 'fp_ee1d74bde0' }
    // Azure's first chunk: no choices, only the prompt's filter results.
    send({ id: '', object: '', created: 0, model: '', choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: FILTER_OK }] })
    send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null, content_filter_results: {} }] })
    for (const p of ['azure', ' stream']) send({ ...base, choices: [{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null, content_filter_results: FILTER_OK }] })
    send({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop', content_filter_results: {} }] })
    if (body.stream_options?.include_usage) send({ ...base, choices: [], usage: USAGE })
    res.write('data: [DONE]\n\n')
    res.end()
  })
  return { ...server, requests, last: () => requests.at(-1)! }
}
