// Writes k8s/crds/*.yaml from the zod schemas (npm run gen:crds).
// test/k8s/crds.test.ts fails when the committed files are stale.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateCrds } from '../k8s/controller/crds.ts'

const dir = fileURLToPath(new URL('../k8s/crds/', import.meta.url))
mkdirSync(dir, { recursive: true })
for (const [name, text] of generateCrds()) {
  mkdirSync(dirname(dir + name), { recursive: true })
  writeFileSync(dir + name, text)
  console.log(`wrote k8s/crds/${name}`)
}
