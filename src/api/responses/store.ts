// Stored responses: what `store` keeps (OpenAI's default), for
// previous_response_id, item_reference and GET /v1/responses/{id}. One key per
// response holds the response, this turn's input and the conversation before
// it, so a follow-up turn costs one store read however long the chain.
// A response belongs to the scope (API key) that created it: any other scope
// gets the 404 a missing id gets.
import type { StateStore } from '../../state/store.ts'
import type { Item } from './schema.ts'

export interface StoredResponse {
  v: 1
  scope: string
  response: Record<string, unknown>
  /** This turn's input items (with ids). */
  input: Item[]
  /** The conversation before this turn, as items. */
  history: Item[]
}

const key = (id: string) => `resp:${id}`

/** The stored response `id` if `scope` may see it. */
export async function loadResponse(store: StateStore, id: string, scope: string): Promise<StoredResponse | undefined> {
  const raw = await store.get(key(id))
  if (!raw) return undefined
  try {
    const r = JSON.parse(raw) as StoredResponse
    return r.v === 1 && r.scope === scope ? r : undefined
  } catch {
    return undefined
  }
}

export async function saveResponse(store: StateStore, r: StoredResponse, ttlSeconds: number): Promise<void> {
  await store.put(key(r.response.id as string), JSON.stringify(r), { ttlSeconds })
}

/** Deletes by overwriting: the StateStore has no delete, and an empty value reads as missing. */
export async function deleteResponse(store: StateStore, id: string): Promise<void> {
  await store.put(key(id), '', { ttlSeconds: 1 })
}

/** The conversation a follow-up to `r` continues: everything before, this turn's input, its output. */
export const conversationAfter = (r: StoredResponse): Item[] => [...r.history, ...r.input, ...((r.response.output as Item[] | undefined) ?? [])]
