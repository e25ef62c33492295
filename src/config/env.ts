// Which config the environment names, with the same variables on every
// runtime: KORTEX_CONFIG_FILE is a path (where there is a file system to
// read), KORTEX_CONFIG_YAML is the config's own text (YAML or JSON), and
// KORTEX_CONFIG, the older name (once a path on Node but the text on Deno and
// Workers), takes either on every runtime. A value of the wrong kind is
// refused with the variable to use instead of failing later with a YAML error
// about a path. Messages never quote the value (a Worker answers with them,
// and a misplaced value may be a secret).

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
 * runtime can read a file.
 */
export function configFromEnv(env: (name: string) => string | undefined, opts: { files: boolean }): ConfigFromEnv | undefined {
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
  // KORTEX_CONFIG, the older name, means the same everywhere: the config, as a path or as its text,
  // whichever the value reads as (a config is never one line; a path always is).
  const either = get('KORTEX_CONFIG')
  if (!either) return undefined
  if (!looksLikePath(either)) return { text: either, from: 'KORTEX_CONFIG' }
  if (!opts.files) throw new ConfigEnvError("kortex: KORTEX_CONFIG reads as a path (one line, not a config), but there is no file system here to read a file from; put the config's text in KORTEX_CONFIG_YAML.")
  return { file: either.trim(), from: 'KORTEX_CONFIG' }
}
