// Which config the environment names, with the same variables on every
// runtime: KORTEX_CONFIG_FILE is a path (where there is a file system to
// read), KORTEX_CONFIG_YAML is the config's own text (YAML or JSON).
// KORTEX_CONFIG is the older name and meant a path on Node but the text on
// Deno and Workers; it keeps that meaning, but a value that reads as the
// other kind is refused with the variable to use instead of failing later
// with a YAML error about a path. Messages never quote the value (a Worker
// answers with them, and a misplaced value may be a secret).

export type ConfigFromEnv = { file: string; from: string } | { text: string; from: string }

export class ConfigEnvError extends Error {}

/**
 * A path, not a config: one line, and not JSON or flow-style YAML. A config
 * holds at least apiVersion and kind, so in block-style YAML it is never one line.
 */
export function looksLikePath(value: string): boolean {
  const v = value.trim()
  return !v.includes('\n') && !/^[{[]/.test(v)
}

/**
 * The config named by the environment; undefined when none is. `files`: this
 * runtime can read a file. `legacy`: what KORTEX_CONFIG means here.
 */
export function configFromEnv(env: (name: string) => string | undefined, opts: { files: boolean; legacy: 'path' | 'text' }): ConfigFromEnv | undefined {
  const get = (n: string) => (env(n)?.trim() ? env(n)! : undefined)
  const text = get('KORTEX_CONFIG_YAML')
  const file = get('KORTEX_CONFIG_FILE')
  if (text && file) throw new ConfigEnvError('kortex: both KORTEX_CONFIG_YAML and KORTEX_CONFIG_FILE are set; set one.')
  if (text) {
    if (looksLikePath(text)) throw new ConfigEnvError(`kortex: KORTEX_CONFIG_YAML reads as a path (one line, not a config); it takes the config's text${opts.files ? ', and KORTEX_CONFIG_FILE a path' : ''}.`)
    return { text, from: 'KORTEX_CONFIG_YAML' }
  }
  if (file) {
    if (!opts.files) throw new ConfigEnvError(`kortex: KORTEX_CONFIG_FILE is set, but there is no file system here to read it from; put the config's text in KORTEX_CONFIG_YAML.`)
    if (!looksLikePath(file)) throw new ConfigEnvError("kortex: KORTEX_CONFIG_FILE holds a config's text, not a path; put the text in KORTEX_CONFIG_YAML.")
    return { file: file.trim(), from: 'KORTEX_CONFIG_FILE' }
  }
  const legacy = get('KORTEX_CONFIG')
  if (!legacy) return undefined
  if (opts.legacy === 'path') {
    if (!looksLikePath(legacy)) throw new ConfigEnvError("kortex: KORTEX_CONFIG holds a config's text, but here it names a file; put the text in KORTEX_CONFIG_YAML (or a path in KORTEX_CONFIG_FILE).")
    return { file: legacy.trim(), from: 'KORTEX_CONFIG' }
  }
  if (looksLikePath(legacy)) {
    throw new ConfigEnvError(
      `kortex: KORTEX_CONFIG reads as a path (one line, not a config), but on this runtime it takes the config's text. ${opts.files ? 'To read a file, set KORTEX_CONFIG_FILE to its path (and allow reading it)' : 'There is no file system here to read a file from'}; put the config's text in KORTEX_CONFIG_YAML.`,
    )
  }
  return { text: legacy, from: 'KORTEX_CONFIG' }
}
