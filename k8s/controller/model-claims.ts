// Two routes that list the same model name — in one namespace or in two —
// cannot both serve it. The older resource keeps the name (creationTimestamp,
// then namespace/name): a route created later, whatever its namespace is
// called, cannot take a model from the route that already serves it. Both
// routes' conditions name the other.

export interface ModelClaim {
  /** The resource's key (kind/namespace/name). */
  key: string
  /** `namespace/name`, as conditions name it. */
  name: string
  /** metadata.creationTimestamp (a string from a watch, a Date from some list calls). */
  created?: string | Date
  models: readonly string[]
}

export interface ClaimOutcome {
  /** By route key: each model it lists but another route keeps, with that route. */
  lost: Map<string, Map<string, string>>
  /** By route key: each model it keeps that other routes list too, with them. */
  kept: Map<string, Map<string, string[]>>
}

const time = (c: ModelClaim) => {
  const t = c.created ? new Date(c.created).getTime() : NaN
  return Number.isNaN(t) ? Infinity : t
}

/** Older first; a tie (timestamps have whole seconds in a real cluster) goes by namespace/name, then key. */
export const olderFirst = (a: ModelClaim, b: ModelClaim) => time(a) - time(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

export function settleModelClaims(claims: readonly ModelClaim[]): ClaimOutcome {
  const owner = new Map<string, ModelClaim>()
  const out: ClaimOutcome = { lost: new Map(), kept: new Map() }
  const add = <V>(m: Map<string, Map<string, V>>, key: string, model: string, v: (old?: V) => V) => {
    const inner = m.get(key) ?? (m.set(key, new Map()), m.get(key)!)
    inner.set(model, v(inner.get(model)))
  }
  for (const c of [...claims].sort(olderFirst)) {
    for (const model of new Set(c.models)) {
      const first = owner.get(model)
      if (!first) {
        owner.set(model, c)
        continue
      }
      add(out.lost, c.key, model, () => first.name)
      add(out.kept, first.key, model, (old) => [...(old ?? []), c.name])
    }
  }
  return out
}
