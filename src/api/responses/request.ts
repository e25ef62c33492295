// A Responses request -> the internal Chat Completions request. `input`
// items become chat messages (function_call -> an assistant's tool_calls,
// function_call_output -> a tool message); `instructions` comes first as a
// system message; flat function tools nest the chat way. Items are
// normalised first (ids, string content as parts, references resolved), so
// what is stored for the next turn translates the same way again.
import { GatewayError, badRequest } from '../errors.ts'
import type { ResponsesRequest, Item } from './schema.ts'
import { itemId, responseIdOf } from './turn.ts'
import type { StoredResponse } from './store.ts'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

const unsupported = (what: string, param: string) => badRequest(`${what} is not supported by this gateway's Responses API.`, param, 'unsupported_value')

/** Reads a stored response by id (this scope's only); one read per id per request. */
export type Loader = (responseId: string) => Promise<StoredResponse | undefined>

const PREFIX: Record<string, string> = { message: 'msg', function_call: 'fc', function_call_output: 'fco' }

/** The client's `input` as stored items: each with a type and an id, item_references replaced by the items they name. */
export async function normaliseInput(input: ResponsesRequest['input'], hex: string, load: Loader): Promise<Item[]> {
  if (input === undefined) return []
  if (typeof input === 'string') return [{ id: itemId('msg', hex, 'input', 0), type: 'message', role: 'user', content: [{ type: 'input_text', text: input }], status: 'completed' }]
  return Promise.all(
    input.map(async (raw, i) => {
      const at = `input[${i}]`
      const item = raw.type === 'item_reference' ? await resolve(raw, at, load) : raw
      const type = item.type ?? (item.role !== undefined ? 'message' : undefined)
      if (type === 'message') return message(item, at, hex, i)
      if (type === 'function_call' || type === 'function_call_output' || type === 'reasoning') {
        return { ...item, id: item.id ?? itemId(PREFIX[type] ?? 'item', hex, 'input', i) }
      }
      if (type === undefined) throw badRequest(`Invalid '${at}': an input item needs a 'type' or a 'role'.`, `${at}.type`, 'missing_required_parameter')
      throw unsupported(`The input item type '${String(type)}'`, `${at}.type`)
    }),
  )
}

async function resolve(ref: Item, at: string, load: Loader): Promise<Item> {
  const id = ref.id
  if (typeof id !== 'string') throw badRequest(`Invalid '${at}.id': an item_reference needs the id of an item.`, `${at}.id`, 'missing_required_parameter')
  const resp = responseIdOf(id)
  const stored = resp ? await load(resp) : undefined
  const found = stored && [...stored.input, ...((stored.response.output as Item[] | undefined) ?? [])].find((x) => x.id === id)
  if (!found) throw badRequest(`Item with id '${id}' not found.`, `${at}.id`, 'item_not_found')
  return found
}

const ROLES = new Set(['user', 'assistant', 'system', 'developer'])

/** A message item with its content as a list of parts (a string becomes one text part). */
function message(m: Item, at: string, hex: string, i: number): Item {
  if (!ROLES.has(m.role as string)) throw badRequest(`Invalid '${at}.role': expected one of user, assistant, system, developer.`, `${at}.role`, 'invalid_value')
  const c = m.content
  let content: unknown[]
  if (typeof c === 'string') content = [m.role === 'assistant' ? { type: 'output_text', text: c, annotations: [] } : { type: 'input_text', text: c }]
  else if (Array.isArray(c)) content = c
  else throw badRequest(`Invalid '${at}.content': expected a string or an array of content parts.`, `${at}.content`, 'invalid_type')
  content.forEach((p, j) => {
    if (!isObj(p) || typeof p.type !== 'string') throw badRequest(`Invalid '${at}.content[${j}]': a content part needs a 'type'.`, `${at}.content[${j}].type`, 'invalid_type')
  })
  return { id: m.id ?? itemId('msg', hex, 'input', i), type: 'message', role: m.role, content, status: m.status ?? 'completed' }
}

/** Chat messages for the conversation, `instructions` first. `at` names the items of this turn's input for errors. */
export function toChatMessages(instructions: string | null | undefined, history: Item[], input: Item[]): Obj[] {
  const out: Obj[] = []
  if (instructions) out.push({ role: 'system', content: instructions })
  history.forEach((item, i) => addItem(out, item, `previous_response_id (item ${i})`))
  input.forEach((item, i) => addItem(out, item, `input[${i}]`))
  return out
}

function addItem(out: Obj[], item: Item, at: string): void {
  switch (item.type) {
    case 'message': {
      const role = item.role as string
      const parts = item.content as Obj[]
      if (role === 'assistant') return void out.push(assistant(parts, at))
      if (role === 'system' || role === 'developer') return void out.push({ role: 'system', content: textOf(parts, `${at}.content`) })
      const content = parts.map((p, j) => userPart(p, `${at}.content[${j}]`))
      // Text alone goes as a string: every backend takes that, not every one takes parts.
      const text = content.every((p) => p.type === 'text') ? content.map((p) => p.text).join('') : undefined
      return void out.push({ role: 'user', content: text ?? content })
    }
    case 'function_call': {
      const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments ?? '' } }
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string') throw badRequest(`Invalid '${at}': a function_call needs call_id and name.`, at, 'invalid_value')
      // Calls right after an assistant's words (or after other calls) belong to that assistant turn.
      const last = out[out.length - 1]
      if (last?.role === 'assistant') return void ((last.tool_calls as Obj[] | undefined) ? (last.tool_calls as Obj[]).push(call) : (last.tool_calls = [call]))
      return void out.push({ role: 'assistant', content: null, tool_calls: [call] })
    }
    case 'function_call_output': {
      if (typeof item.call_id !== 'string') throw badRequest(`Invalid '${at}.call_id': a function_call_output needs the call_id it answers.`, `${at}.call_id`, 'invalid_value')
      const o = item.output
      const content = typeof o === 'string' ? o : Array.isArray(o) ? textOf(o as Obj[], `${at}.output`) : JSON.stringify(o ?? '')
      return void out.push({ role: 'tool', tool_call_id: item.call_id, content })
    }
    case 'reasoning':
      return // a model's own reasoning: no chat backend takes it back
  }
}

function assistant(parts: Obj[], at: string): Obj {
  let text = ''
  let refusal: string | undefined
  parts.forEach((p, j) => {
    if (p.type === 'output_text' || p.type === 'input_text') text += String(p.text ?? '')
    else if (p.type === 'refusal') refusal = String(p.refusal ?? '')
    else throw unsupported(`The content part type '${String(p.type)}' in an assistant message`, `${at}.content[${j}].type`)
  })
  return refusal !== undefined && !text ? { role: 'assistant', content: null, refusal } : { role: 'assistant', content: text }
}

/** Text-only content (system messages, tool output); `at` names the list. */
function textOf(parts: Obj[], at: string): string {
  return parts
    .map((p, j) => {
      if (p.type === 'input_text' || p.type === 'output_text') return String(p.text ?? '')
      throw unsupported(`A '${String(p.type)}' part here`, `${at}[${j}].type`)
    })
    .join('')
}

function userPart(p: Obj, at: string): Obj {
  switch (p.type) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: String(p.text ?? '') }
    case 'input_image': {
      if (typeof p.image_url !== 'string') throw unsupported('An input_image without image_url (file_id)', `${at}.image_url`)
      return { type: 'image_url', image_url: p.detail && p.detail !== 'original' ? { url: p.image_url, detail: p.detail } : { url: p.image_url } }
    }
    case 'input_file': {
      if (typeof p.file_data !== 'string' && typeof p.file_id !== 'string') throw unsupported('An input_file without file_data or file_id (file_url)', `${at}.file_url`)
      const file: Obj = {}
      for (const k of ['file_data', 'file_id', 'filename'] as const) if (typeof p[k] === 'string') file[k] = p[k]
      return { type: 'file', file }
    }
    default:
      throw unsupported(`The content part type '${String(p.type)}'`, `${at}.type`)
  }
}

/** Responses' flat function tools -> chat's nested ones; any other tool type is refused. */
export function toChatTools(tools: Item[]): Obj[] {
  return tools.map((t, i) => {
    if (t.type !== 'function') throw unsupported(`The tool type '${String(t.type)}'`, `tools[${i}].type`)
    if (typeof t.name !== 'string' || !t.name) throw badRequest(`Invalid 'tools[${i}].name': a function tool needs a name.`, `tools[${i}].name`, 'missing_required_parameter')
    const fn: Obj = { name: t.name }
    if (typeof t.description === 'string') fn.description = t.description
    if (isObj(t.parameters)) fn.parameters = t.parameters
    if (typeof t.strict === 'boolean') fn.strict = t.strict
    return { type: 'function', function: fn }
  })
}

export function toChatToolChoice(c: unknown): unknown {
  if (c === undefined || c === null || typeof c === 'string') return c ?? undefined
  const o = c as Obj
  if (o.type === 'function') {
    if (typeof o.name !== 'string') throw badRequest("Invalid 'tool_choice.name': a function tool_choice names the function.", 'tool_choice.name', 'missing_required_parameter')
    return { type: 'function', function: { name: o.name } }
  }
  throw unsupported(`tool_choice of type '${String(o.type)}'`, 'tool_choice')
}

/** `text.format` -> chat's response_format (none for plain text). */
export function toResponseFormat(format: Obj | undefined): Obj | undefined {
  if (!format || format.type === 'text') return undefined
  if (format.type === 'json_object') return { type: 'json_object' }
  if (typeof format.name !== 'string' || !isObj(format.schema)) {
    throw badRequest("Invalid 'text.format': a json_schema format needs a name and a schema.", typeof format.name !== 'string' ? 'text.format.name' : 'text.format.schema', 'missing_required_parameter')
  }
  const js: Obj = { name: format.name, schema: format.schema }
  if (typeof format.description === 'string') js.description = format.description
  if (typeof format.strict === 'boolean') js.strict = format.strict
  return { type: 'json_schema', json_schema: js }
}

/** OpenAI's answer to a previous_response_id it does not have (or that another key made): a 400, not a 404. */
export const previousNotFound = (id: string) =>
  new GatewayError(400, `Previous response with id '${id}' not found.`, 'invalid_request_error', 'previous_response_not_found', 'previous_response_id')
