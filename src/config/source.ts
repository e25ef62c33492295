// From config text to a compiled config: the one path every ConfigSource
// (file, controller pull, binding) goes through.
import { parseConfigText } from './load.ts'
import { compileConfig, type CompiledConfig, type SecretLookup } from './compile.ts'

export async function buildConfig(text: string, secrets: SecretLookup, source = 'config'): Promise<CompiledConfig> {
  return compileConfig(parseConfigText(text, source), secrets, source)
}
