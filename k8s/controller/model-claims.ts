// Two routes that list the same model name — in one namespace or in two —
// cannot both serve it. The older resource keeps the name (creationTimestamp,
// then namespace/name): a route created later, whatever its namespace is
// called, cannot take a model from the route that already serves it. Both
// routes' conditions name the other. A rule's model condition (modelPrefix,
// modelPattern) claims the models it takes from routes of other namespaces
// too: a listed name is tried before every pattern, so a newer tenant route
// listing `gpt-4o` would otherwise take it from the platform's `gpt-4*`.

export interface ModelClaim {
  /** The resource's key (kind/namespace/name). */
  key: string
  /** `namespace/name`, as conditions name it. */
  name: string
  /** metadata.creationTimestamp (a string from a watch, a Date from some list calls). */
  created?: string | Date
  models: readonly string[]
  /** Whether one of its rules' model conditions takes `model`. */
  serves?: (model: string) => boolean
}

export interface ClaimOutcome {
  /** By route key: each model it lists but another route keeps, with how that route claims it ("listed by InferenceRoute ns/name"). */
  lost: Map<string, Map<string, string>>
  /** By route key: each model it keeps that other routes list too, with them. */
  kept: Map<string, Map<string, string[]>>
}

const namespaceOf = (c: ModelClaim) => c.name.slice(0, c.name.indexOf('/'))

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
  const sorted = [...claims].sort(olderFirst)
  sorted.forEach((c, i) => {
    for (const model of new Set(c.models)) {
      const first = owner.get(model)
      const rule = first ? undefined : sorted.slice(0, i).find((o) => namespaceOf(o) !== namespaceOf(c) && o.serves?.(model))
      if (!first && !rule) {
        owner.set(model, c)
        continue
      }
      add(out.lost, c.key, model, () => (first ? `listed by InferenceRoute ${first.name}` : `served by a rule of InferenceRoute ${rule!.name}`))
      add(out.kept, (first ?? rule)!.key, model, (old) => [...(old ?? []), c.name])
    }
  })
  return out
}
