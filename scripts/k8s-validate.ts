// npm run k8s:validate: every manifest under k8s/ and every example parses;
// every Kortex custom resource (k8s/deploy/ and examples/) passes the CRD
// schema the cluster will apply (the committed k8s/crds/*.yaml) and the
// gateway's own validation; RBAC names the right API group.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { validateOpenApi } from '../k8s/controller/openapi-validate.ts'
import { compileConfig } from '../src/config/compile.ts'
import { ConfigError, parseConfigText } from '../src/config/load.ts'
import { API_GROUPS } from '../src/config/schema.ts'

type Json = Record<string, any>

const KORTEX_KINDS = new Set(['InferenceBackend', 'InferenceRoute', 'InferenceExperiment', 'GatewayConfig'])

function yamlFiles(dir: string): string[] {
  let out: string[] = []
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    if (statSync(p).isDirectory()) out = out.concat(yamlFiles(p))
    // Prometheus's own files beside the manifests (a plain rules file, its promtool tests) are not Kubernetes objects.
    else if (/\.ya?ml$/.test(e) && !/\.(rules|test)\.ya?ml$/.test(e)) out.push(p)
  }
  return out.sort()
}

export interface ValidationReport {
  files: number
  resources: number
  customResources: number
  problems: string[]
}

export async function validateManifests(root: string): Promise<ValidationReport> {
  const problems: string[] = []
  const schemas = new Map<string, Json>()
  for (const f of yamlFiles(join(root, 'k8s/crds'))) {
    const crd = parseAllDocuments(readFileSync(f, 'utf8'))
    for (const d of crd as any[]) {
      const o = d.toJS() as Json
      if (o?.kind === 'Kustomization') continue
      const v = o?.spec?.versions?.find((x: Json) => x.storage)
      if (o?.kind !== 'CustomResourceDefinition' || !v?.schema?.openAPIV3Schema) problems.push(`${relative(root, f)}: not a CRD with a stored version schema`)
      else schemas.set(o.spec.names.kind, v.schema.openAPIV3Schema)
    }
  }
  for (const k of KORTEX_KINDS) if (!schemas.has(k)) problems.push(`k8s/crds: no CRD for ${k} (run npm run gen:crds)`)
  const files = [...yamlFiles(join(root, 'k8s')), ...yamlFiles(join(root, 'examples'))]
  let resources = 0
  let customResources = 0
  const oursByDir = new Map<string, Array<{ rel: string; docs: string[] }>>()
  for (const f of files) {
    const rel = relative(root, f)
    const text = readFileSync(f, 'utf8')
    const docs = parseAllDocuments(text)
    if (!Array.isArray(docs)) {
      problems.push(`${rel}: not a YAML document stream`)
      continue
    }
    const ours: string[] = []
    docs.forEach((d, i) => {
      const where = `${rel} document ${i + 1}`
      if (d.errors.length) return void problems.push(`${where}: ${d.errors[0]!.message.split('\n')[0]}`)
      const o = d.toJS() as Json | null
      if (o == null) return
      if (o.kind === 'Kustomization') {
        for (const r of (o.resources ?? []) as string[]) if (!existsSync(join(dirname(f), r))) problems.push(`${where}: resource ${r} does not exist`)
        return
      }
      // Prometheus rule files and their promtool tests (k8s/observability) are not Kubernetes objects: parsing them is the check here.
      if (o.kind === undefined && (Array.isArray(o.groups) || Array.isArray(o.rule_files))) return
      resources++
      if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
        return void problems.push(`${where}: needs apiVersion, kind and metadata.name`)
      }
      const group = o.apiVersion.split("/")[0] ?? ""
      if (KORTEX_KINDS.has(o.kind) && (API_GROUPS as readonly string[]).includes(group)) {
        customResources++
        ours.push(JSON.stringify(o))
        const schema = schemas.get(o.kind)
        // The older group's manifests have the same schema (they load in files; in a cluster, change the group).
        if (schema) for (const e of validateOpenApi(schema, o)) problems.push(`${where} (${o.kind} ${o.metadata.name}): ${e}`)
      }
      if (o.kind === 'Role' || o.kind === 'ClusterRole') {
        for (const r of (o.rules ?? []) as Json[]) {
          const kortex = ((r.resources ?? []) as string[]).some((x) => /^(inferencebackends|inferenceroutes|inferenceexperiments|gatewayconfigs)(\/|$)/.test(x))
          if (kortex && !((r.apiGroups ?? []) as string[]).includes(rel.includes('legacy/') ? 'gateway.inference-gateway.io' : 'gateway.kortex.io')) problems.push(`${where}: a rule on Kortex resources must name apiGroup gateway.kortex.io`)
          if (((r.apiGroups ?? []) as string[]).includes('gateway.inference-gateway.io') && !rel.includes('legacy/')) problems.push(`${where}: the old API group gateway.inference-gateway.io is not what the CRDs serve`)
          if (((r.verbs ?? []) as string[]).includes('*') || ((r.resources ?? []) as string[]).includes('*')) problems.push(`${where}: wildcard RBAC is not least privilege`)
        }
      }
    })
    if (ours.length) oursByDir.set(dirname(f), [...(oursByDir.get(dirname(f)) ?? []), { rel, docs: ours }])
  }
  // Each folder's resources together (an example set spans files): valid, and they compile (every reference resolves).
  for (const [dir, sets] of oursByDir) {
    let docs
    try {
      docs = sets.flatMap((x) => parseConfigText(x.docs.join('\n---\n'), x.rel))
    } catch (err) {
      problems.push(`${relative(root, dir)}: the gateway refuses it:\n${(err as Error).message}`)
      continue
    }
    // examples/ holds alternative configs (one file each); k8s/deploy/examples is one cluster's worth.
    const groups = relative(root, dir) === 'examples' ? sets.map((x) => parseConfigText(x.docs.join('\n---\n'), x.rel)) : [docs]
    for (const g of groups) {
      try {
        await compileConfig(g, () => 'placeholder-secret', relative(root, dir))
      } catch (err) {
        problems.push(`${relative(root, dir)}: does not compile:\n${err instanceof ConfigError ? err.message : String(err)}`)
      }
    }
  }
  return { files: files.length, resources, customResources, problems }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const r = await validateManifests(root)
  for (const p of r.problems) console.error(`  - ${p}`)
  console.log(`k8s:validate: ${r.files} files, ${r.resources} resources (${r.customResources} Kortex custom resources), ${r.problems.length} problems`)
  process.exit(r.problems.length ? 1 : 0)
}
