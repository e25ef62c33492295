// Experiments, from both dialects, compiled to one shape: variants with
// weights over backends. An inline route experiment (control, treatment,
// trafficPercent) is two variants weighted 100−p and p, so raising p only
// moves users from control to treatment; its control is a passthrough.
import type { ExperimentSpec, RouteSpec } from './schema.ts'
import { durationMs } from './duration.ts'

export interface Variant {
  name: string
  backend: string
  weight: number
}

export interface Experiment {
  name: string
  namespace: string
  /** Routes (by name, same namespace) whose traffic it splits. */
  routes: string[]
  variants: Variant[]
  /**
   * A variant whose subjects are routed as usual (inline experiments'
   * control): they count for it when usual routing picked its backend, so
   * trafficPercent 0 leaves the route exactly as it was.
   */
  passthrough?: string
  /** Share of subjects enrolled, 0–100; the rest are routed as if there were no experiment. */
  trafficPercent: number
  subjectHeader: string
  /** Metrics the report leads with (e.g. latencyP99, userSatisfaction). */
  metrics: string[]
  startMs?: number
  durationMs?: number
  minimumSampleSize?: number
  confidence: number
}

export function fromInline(routeName: string, namespace: string, spec: RouteSpec['experiments'][number], userHeader: string): Experiment {
  return {
    name: spec.name,
    namespace,
    routes: [routeName],
    variants: [
      { name: 'control', backend: spec.control, weight: 100 - spec.trafficPercent },
      { name: 'treatment', backend: spec.treatment, weight: spec.trafficPercent },
    ],
    passthrough: 'control',
    trafficPercent: 100,
    subjectHeader: userHeader,
    metrics: [spec.metric],
    confidence: 0.95,
  }
}

/** `routes`: the named route, else every route in the namespace that uses the control variant's backend. */
export function fromResource(name: string, namespace: string, spec: ExperimentSpec, routes: string[]): Experiment {
  return {
    name,
    namespace,
    routes,
    variants: spec.variants.map((v) => ({ ...v })),
    trafficPercent: spec.trafficPercent,
    subjectHeader: spec.subjectHeader.toLowerCase(),
    metrics: spec.metrics,
    startMs: spec.start ? Date.parse(spec.start) : undefined,
    durationMs: spec.duration !== undefined ? durationMs(spec.duration) : undefined,
    minimumSampleSize: spec.minimumSampleSize,
    confidence: spec.confidenceLevel,
  }
}
