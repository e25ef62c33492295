import { appendFileSync } from 'node:fs'

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  if (process.env.KORTEX_TEST_LOADS) appendFileSync(process.env.KORTEX_TEST_LOADS, `${r.url}\n`)
  return r
}
