// k8s/deploy: what a platform team applies. Probes, resources and a non-root
// security context on every container; RBAC on the group the CRDs serve, with
// no wildcards; and k8s:validate catches the old operator's defects.
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { validateManifests } from '../../scripts/k8s-validate.ts'
import { DEFAULT_DRAIN_SECONDS } from '../../adapters/node/drain.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const docs = (file: string) => parseAllDocuments(readFileSync(join(root, 'k8s/deploy', file), 'utf8')).map((d: any) => d.toJS())

describe('k8s/deploy', () => {
  it('every container has probes, requests, a memory limit and a restricted, non-root security context', () => {
    const deployments = [...docs('controller.yaml'), ...docs('gateway.yaml')].filter((d) => d.kind === 'Deployment')
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['kortex-controller', 'kortex-gateway'])
    for (const d of deployments) {
      const pod = d.spec.template.spec
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
      for (const c of pod.containers) {
        expect(c.livenessProbe && c.readinessProbe && c.startupProbe, `${d.metadata.name} probes`).toBeTruthy()
        expect(c.readinessProbe.httpGet.path).toBe('/readyz')
        expect(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory).toBeTruthy()
        expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
      }
    }
    const gateway = docs('gateway.yaml')
    expect(gateway.map((d) => d.kind).sort()).toEqual(['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service'])
    const container = gateway.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0]
    // The image's entrypoint runs the gateway (with the Node flags `npm start` uses: test/ship); the controller is its `controller` command.
    expect(container.command).toBeUndefined()
    expect(container.args).toContain('--config-url')
    const controller = docs('controller.yaml').find((d) => d.kind === 'Deployment').spec.template.spec.containers[0]
    expect(controller.args).toEqual(['controller'])
    expect(new Set([container.image, controller.image]).size).toBe(1)
    // The root file system is read-only and nothing needs a writable volume but /tmp.
    for (const d of deployments) expect(d.spec.template.spec.volumes.map((v: any) => v.name)).toEqual(['tmp'])
    expect(container.env.find((e: any) => e.name === 'KORTEX_CONFIG_TOKEN').valueFrom.secretKeyRef.name).toBe('kortex-controller-token')
  })

  it('rollouts drop nothing: the gateway pauses before SIGTERM and drains within the grace period, the HPA alone sets its replicas, and the controller requests the memory it uses', () => {
    const gateway = docs('gateway.yaml')
    const deployment = gateway.find((d) => d.kind === 'Deployment')
    const hpa = gateway.find((d) => d.kind === 'HorizontalPodAutoscaler')
    expect(hpa.spec.scaleTargetRef.name).toBe(deployment.metadata.name)
    expect(deployment.spec.replicas, 'replicas on a Deployment the HPA scales: every apply resets the scale').toBeUndefined()
    const pod = deployment.spec.template.spec
    const c = pod.containers[0]
    // The pause lets the endpoints drop the pod before it stops taking connections.
    const preStop = c.lifecycle?.preStop
    const pause = preStop?.sleep?.seconds ?? (preStop?.exec?.command[0] === 'sleep' ? Number(preStop.exec.command[1]) : 0)
    expect(pause).toBeGreaterThanOrEqual(5)
    const drain = Number(c.env.find((e: any) => e.name === 'KORTEX_DRAIN_SECONDS')?.value ?? DEFAULT_DRAIN_SECONDS)
    // After the drain: ending what is left and writing the records (drain.ts allows 11 s before it gives up).
    expect(pause + drain + 15).toBeLessThanOrEqual(pod.terminationGracePeriodSeconds ?? 30)
    const controller = docs('controller.yaml').find((d) => d.kind === 'Deployment').spec.template.spec.containers[0]
    const mib = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1] ?? Number(/^(\d+)Gi$/.exec(q)?.[1]) * 1024)
    // Measured: ~150 MiB bundled, ~220 MiB under tsx, after the first list.
    expect(mib(controller.resources.requests.memory)).toBeGreaterThanOrEqual(230)
    expect(mib(controller.resources.limits.memory)).toBeGreaterThan(mib(controller.resources.requests.memory))
  })

  it('RBAC: read the Kortex group gateway.kortex.io, write only status, a Lease by name; no wildcards', () => {
    const rbac = docs('rbac.yaml')
    const cluster = rbac.find((d) => d.kind === 'ClusterRole')
    expect(cluster.rules).toContainEqual({ apiGroups: ['gateway.kortex.io'], resources: ['inferencebackends', 'inferenceroutes', 'inferenceexperiments', 'gatewayconfigs'], verbs: ['get', 'list', 'watch'] })
    expect(cluster.rules.find((r: any) => r.resources.includes('inferenceroutes/status')).verbs).toEqual(['get', 'patch'])
    expect(JSON.stringify(rbac)).not.toContain('gateway.inference-gateway.io')
    expect(JSON.stringify(rbac)).not.toContain('"*"')
    const lease = rbac.find((d) => d.kind === 'Role')
    expect(lease.rules.find((r: any) => r.verbs.includes('update')).resourceNames).toEqual(['kortex-controller'])
    // Secrets by name only, never cluster-wide: the example's provider keys.
    expect(JSON.stringify(cluster.rules)).not.toContain('secrets')
    const secrets = rbac.find((d) => d.kind === 'Role' && d.metadata.name === 'kortex-controller-secrets')
    expect(secrets.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['openai-credentials', 'anthropic-credentials'], verbs: ['get', 'list', 'watch'] }])
    expect(rbac.find((d) => d.kind === 'RoleBinding' && d.roleRef.name === 'kortex-controller-secrets').subjects).toEqual([{ kind: 'ServiceAccount', name: 'kortex-controller', namespace: 'kortex' }])
  })

  it('NetworkPolicy: of all pods, only the gateway\'s in the controller\'s namespace reach GET /config (it carries every key)', () => {
    expect(parseAllDocuments(readFileSync(join(root, 'k8s/deploy/kustomization.yaml'), 'utf8'))[0]!.toJS().resources).toContain('networkpolicy.yaml')
    const policies = docs('networkpolicy.yaml').filter((d) => d.kind === 'NetworkPolicy')
    const controller = docs('controller.yaml').find((d) => d.kind === 'Deployment')
    const gateway = docs('gateway.yaml').find((d) => d.kind === 'Deployment')
    const configPort = controller.spec.template.spec.containers[0].ports[0].containerPort
    const ns = controller.metadata.namespace
    const pod = (namespace: string, labels: Record<string, string>) => ({ namespace, labels })
    // NetworkPolicy semantics for ingress to the controller's pods: isolated once a policy selects them; then only what some rule allows.
    const matches = (sel: any, labels: Record<string, string>) => Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)
    const reaches = (from: { namespace: string; labels: Record<string, string> }, port: number) => {
      const selecting = policies.filter((p) => p.metadata.namespace === ns && matches(p.spec.podSelector, controller.spec.template.metadata.labels) && p.spec.policyTypes.includes('Ingress'))
      if (!selecting.length) return true
      return selecting.some((p) =>
        (p.spec.ingress ?? []).some(
          (rule: any) =>
            (!rule.ports || rule.ports.some((x: any) => x.port === port)) &&
            (!rule.from || rule.from.some((peer: any) => (peer.namespaceSelector ? matches(peer.namespaceSelector, { 'kubernetes.io/metadata.name': from.namespace }) : from.namespace === ns) && (!peer.podSelector || matches(peer.podSelector, from.labels)))),
        ),
      )
    }
    expect(reaches(pod(ns, gateway.spec.template.metadata.labels), configPort)).toBe(true)
    // A tenant's pod, even one labelled like the gateway, and any other pod beside the controller: refused.
    expect(reaches(pod('a-tenant', gateway.spec.template.metadata.labels), configPort)).toBe(false)
    expect(reaches(pod('a-tenant', {}), configPort)).toBe(false)
    expect(reaches(pod(ns, { app: 'debug' }), configPort)).toBe(false)
  })

  it('k8s:validate reports a manifest on the old API group, a bad enum, and a route naming a missing backend', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kortex-validate-'))
    cpSync(join(root, 'k8s/crds'), join(dir, 'k8s/crds'), { recursive: true })
    mkdirSync(join(dir, 'k8s/deploy'), { recursive: true })
    mkdirSync(join(dir, 'examples'))
    writeFileSync(join(dir, 'k8s/deploy/rbac.yaml'), 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: { name: old }\nrules:\n  - { apiGroups: [gateway.inference-gateway.io], resources: [inferenceroutes], verbs: [get] }\n')
    writeFileSync(
      join(dir, 'k8s/deploy/bad.yaml'),
      'apiVersion: gateway.kortex.io/v1alpha1\nkind: InferenceBackend\nmetadata: { name: b }\nspec: { type: grpc }\n',
    )
    writeFileSync(join(dir, 'examples/route.yaml'), 'apiVersion: gateway.kortex.io/v1alpha1\nkind: InferenceRoute\nmetadata: { name: r }\nspec: { defaultBackend: { name: nope } }\n')
    const r = await validateManifests(dir)
    const text = r.problems.join('\n')
    expect(text).toContain('a rule on Kortex resources must name apiGroup gateway.kortex.io')
    expect(text).toContain('(InferenceBackend b): spec.type: "grpc" does not match')
    expect(text).toContain('k8s/deploy: the gateway refuses it')
    expect(text).toMatch(/examples: does not compile:[\s\S]*backend "nope" is not defined/)
  })
})
