// OpenAI chat request -> Gemini GenerateContentRequest (the same body for the
// Generative Language API and Vertex AI). System and developer messages
// become `systemInstruction`; assistant turns are role "model"; tool calls
// become functionCall parts and tool results functionResponse parts (by
// function name: Gemini matches them by name, OpenAI by id). Consecutive
// turns of one role are merged, since Gemini wants them to alternate.
import { UpstreamError } from '../errors.ts'
import { THOUGHT_SIGNATURE_SEP } from './response.ts'

type Obj = Record<string, unknown>

export type GeminiPart =
  | { text: string }
  | { inlineData: { mimeType: string; data: string } }
  | { fileData: { mimeType: string; fileUri: string } }
  | { functionCall: { name: string; args: Obj; id?: string }; thoughtSignature?: string }
  | { functionResponse: { name: string; response: Obj; id?: string } }

export interface GeminiContent {
  role: 'user' | 'model'
  parts: GeminiPart[]
}

export interface GeminiRequest {
  contents: GeminiContent[]
  systemInstruction?: { parts: Array<{ text: string }> }
  generationConfig?: Obj
  tools?: Array<{ functionDeclarations: Obj[] }>
  toolConfig?: { functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } }
}

const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)

const invalid = (message: string, param?: string) => new UpstreamError('bad_request', message, undefined, undefined, 'invalid_value', param)

export function toGeminiRequest(body: Obj): GeminiRequest {
  if (typeof body.n === 'number' && body.n > 1) throw invalid('n > 1 is not supported by this backend', 'n')
  if (!Array.isArray(body.messages)) throw invalid('messages must be an array', 'messages')
  const system: string[] = []
  const contents: GeminiContent[] = []
  // tool_call_id -> function name, from the assistant turns before the tool results.
  const names = new Map<string, string>()
  const push = (role: GeminiContent['role'], parts: GeminiPart[]) => {
    if (!parts.length) return
    const last = contents[contents.length - 1]
    if (last && last.role === role) last.parts.push(...parts)
    else contents.push({ role, parts })
  }

  body.messages.forEach((m: unknown, i: number) => {
    const at = `messages[${i}]`
    if (!isObj(m)) throw invalid(`${at} must be an object`, at)
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = partsOf(m.content, at)
          .map((p) => ('text' in p ? p.text : ''))
          .join('\n')
        if (text) system.push(text)
        return
      }
      case 'user':
        return push('user', partsOf(m.content, at))
      case 'assistant': {
        const parts = m.content == null ? [] : partsOf(m.content, at)
        if (Array.isArray(m.tool_calls)) {
          m.tool_calls.forEach((c, j) => {
            const call = functionCall(c, `${at}.tool_calls[${j}]`)
            names.set(call.id, call.name)
            const sig = call.id.split(THOUGHT_SIGNATURE_SEP)[1]
            parts.push(sig ? { functionCall: { name: call.name, args: call.args }, thoughtSignature: sig } : { functionCall: { name: call.name, args: call.args } })
          })
        }
        return push('model', parts)
      }
      case 'tool': {
        if (typeof m.tool_call_id !== 'string') throw invalid(`${at}.tool_call_id must be a string`, `${at}.tool_call_id`)
        const name = names.get(m.tool_call_id)
        if (!name) throw invalid(`${at}.tool_call_id "${m.tool_call_id}" answers no earlier assistant tool call`, `${at}.tool_call_id`)
        return push('user', [{ functionResponse: { name, response: toolResult(m.content, at) } }])
      }
      default:
        throw invalid(`${at}.role "${String(m.role)}" is not supported by this backend`, `${at}.role`)
    }
  })

  const out: GeminiRequest = { contents }
  if (system.length) out.systemInstruction = { parts: [{ text: system.join('\n\n') }] }
  const config = generationConfig(body)
  if (Object.keys(config).length) out.generationConfig = config
  if (Array.isArray(body.tools) && body.tools.length) {
    out.tools = [{ functionDeclarations: body.tools.map(declaration) }]
    const tc = toolConfig(body.tool_choice)
    if (tc) out.toolConfig = { functionCallingConfig: tc }
  }
  return out
}

function generationConfig(body: Obj): Obj {
  const g: Obj = {}
  const max = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens)
  if (max) g.maxOutputTokens = max
  if (typeof body.temperature === 'number') g.temperature = body.temperature
  if (typeof body.top_p === 'number') g.topP = body.top_p
  if (typeof body.stop === 'string') g.stopSequences = [body.stop]
  else if (Array.isArray(body.stop) && body.stop.length) g.stopSequences = body.stop.filter((s) => typeof s === 'string')
  if (typeof body.seed === 'number') g.seed = body.seed
  if (typeof body.presence_penalty === 'number') g.presencePenalty = body.presence_penalty
  if (typeof body.frequency_penalty === 'number') g.frequencyPenalty = body.frequency_penalty
  const rf = body.response_format
  if (isObj(rf) && (rf.type === 'json_object' || rf.type === 'json_schema')) {
    g.responseMimeType = 'application/json'
    const schema = isObj(rf.json_schema) ? rf.json_schema.schema : undefined
    // responseJsonSchema takes JSON Schema as clients write it (responseSchema only an OpenAPI subset).
    if (isObj(schema)) g.responseJsonSchema = schema
  }
  return g
}

const positiveInt = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined)

function partsOf(content: unknown, at: string): GeminiPart[] {
  if (typeof content === 'string') return content ? [{ text: content }] : []
  if (!Array.isArray(content)) throw invalid(`${at}.content must be a string or an array`, `${at}.content`)
  return content.flatMap((p, j): GeminiPart[] => {
    const where = `${at}.content[${j}]`
    if (!isObj(p)) throw invalid(`${where} must be an object`, `${at}.content`)
    if (p.type === 'text') return typeof p.text === 'string' && p.text ? [{ text: p.text }] : []
    if (p.type === 'refusal') return typeof p.refusal === 'string' && p.refusal ? [{ text: p.refusal }] : []
    if (p.type === 'image_url') {
      const url = isObj(p.image_url) ? p.image_url.url : undefined
      if (typeof url !== 'string') throw invalid(`${where}.image_url.url must be a string`, `${at}.content`)
      return [media(url, where)]
    }
    if (p.type === 'file') {
      const data = isObj(p.file) ? p.file.file_data : undefined
      if (typeof data !== 'string') throw invalid(`${where}: only files given as file_data are supported by this backend`, `${at}.content`)
      return [media(data, where)]
    }
    if (p.type === 'input_audio' && isObj(p.input_audio) && typeof p.input_audio.data === 'string') {
      return [{ inlineData: { mimeType: `audio/${String(p.input_audio.format ?? 'wav')}`, data: p.input_audio.data } }]
    }
    throw invalid(`${where}: content part type "${String(p.type)}" is not supported by this backend`, `${at}.content`)
  })
}

const EXT_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif', pdf: 'application/pdf' }

/** A base64 data: URL becomes inline data; any other URL a file reference (Gemini fetches gs:// and https URIs itself). */
function media(url: string, where: string): GeminiPart {
  const m = /^data:([^;,]+)(?:;[^;,]+)*;base64,(.*)$/s.exec(url)
  if (m) return { inlineData: { mimeType: m[1]!.toLowerCase(), data: m[2]! } }
  if (!/^(https?|gs):\/\//i.test(url)) throw invalid(`${where}: expected an http(s) or gs:// URL or a base64 data: URL`, where)
  const ext = /\.([a-z0-9]+)(?:[?#].*)?$/i.exec(url)?.[1]?.toLowerCase()
  return { fileData: { mimeType: EXT_TYPES[ext ?? ''] ?? 'image/jpeg', fileUri: url } }
}

function functionCall(c: unknown, at: string): { id: string; name: string; args: Obj } {
  if (!isObj(c) || !isObj(c.function) || typeof c.id !== 'string' || typeof c.function.name !== 'string') {
    throw invalid(`${at} must have an id and a function name`, at)
  }
  const a = c.function.arguments
  let args: unknown = {}
  if (typeof a === 'string' && a.trim()) {
    try {
      args = JSON.parse(a)
    } catch {
      throw invalid(`${at}.function.arguments is not valid JSON`, `${at}.function.arguments`)
    }
  } else if (isObj(a)) args = a
  return { id: c.id, name: c.function.name, args: isObj(args) ? args : {} }
}

/** functionResponse.response must be an object: a JSON object result as it is, anything else under "content". */
function toolResult(content: unknown, at: string): Obj {
  const text =
    typeof content === 'string'
      ? content
      : partsOf(content, at)
          .map((p) => ('text' in p ? p.text : ''))
          .join('')
  try {
    const v = JSON.parse(text)
    if (isObj(v)) return v
  } catch {
    // not JSON: plain text
  }
  return { content: text }
}

function declaration(t: unknown, i: number): Obj {
  if (!isObj(t) || t.type !== 'function' || !isObj(t.function) || typeof t.function.name !== 'string') {
    throw invalid(`tools[${i}]: only function tools are supported by this backend`, `tools[${i}]`)
  }
  const f = t.function
  const d: Obj = { name: f.name }
  if (typeof f.description === 'string') d.description = f.description
  // parametersJsonSchema: JSON Schema as OpenAI clients write it (additionalProperties, $ref...).
  if (isObj(f.parameters)) d.parametersJsonSchema = f.parameters
  return d
}

function toolConfig(c: unknown): { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } | undefined {
  if (c == null) return undefined
  if (c === 'auto') return { mode: 'AUTO' }
  if (c === 'none') return { mode: 'NONE' }
  if (c === 'required') return { mode: 'ANY' }
  if (isObj(c) && c.type === 'function' && isObj(c.function) && typeof c.function.name === 'string') {
    return { mode: 'ANY', allowedFunctionNames: [c.function.name] }
  }
  throw invalid('tool_choice must be "auto", "none", "required" or a function', 'tool_choice')
}
