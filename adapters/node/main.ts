// The `kortex` command.
import { parseArgs } from 'node:util'
import { startKortex } from './start.ts'
import { shutdownOnSignals } from './drain.ts'
import { ConfigError } from '../../src/config/load.ts'
import { ConfigRefused } from '../../src/config/guard.ts'
import { configFromEnv } from '../../src/config/env.ts'

const usage = `Usage: kortex [--config FILE | --config-url URL] [--controller] [--port N] [--host ADDR]
       kortex validate PATH...   check configs or a directory of manifests; start nothing
       kortex controller         the Kubernetes controller alone (kortex controller --help)
       kortex --version

  --config FILE   serve this config (multi-document YAML); reloaded on change.
                  Also KORTEX_CONFIG_FILE (or KORTEX_CONFIG); KORTEX_CONFIG_YAML
                  holds the config's text instead. Without one, an embedded demo config.
  --config-url URL  pull the config from the Kortex controller (KORTEX_CONFIG_URL),
                  e.g. http://kortex-controller.kortex:8081/config; its bearer
                  token comes from KORTEX_CONFIG_TOKEN. Changes arrive by long poll.
  --controller    also run the Kubernetes controller in this process (small
                  clusters: one Deployment) and follow it (KORTEX_CONTROLLER=1)
  --port N        listen port (PORT, default 8080)
  --host ADDR     listen address (HOST, default 127.0.0.1; 0.0.0.0 in containers)

Slow clients are cut by KORTEX_HEADERS_TIMEOUT_MS, KORTEX_BODY_IDLE_TIMEOUT_MS,
KORTEX_REQUEST_TIMEOUT_MS, KORTEX_KEEPALIVE_TIMEOUT_MS; KORTEX_MAX_CONNECTIONS
caps connections (see the README).
`

async function main() {
  let args
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        'config-url': { type: 'string' },
        controller: { type: 'boolean' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    console.error(`kortex: ${(err as Error).message}\n\n${usage}`)
    process.exit(2)
  }
  if (args.help) {
    console.log(usage)
    return
  }
  let fromEnv
  try {
    fromEnv = args.config ? undefined : configFromEnv((n) => process.env[n], { files: true })
  } catch (err) {
    console.error((err as Error).message)
    process.exit(1)
  }
  const configPath = args.config ?? (fromEnv && 'file' in fromEnv ? fromEnv.file : undefined)
  const configText = fromEnv && 'text' in fromEnv ? fromEnv.text : undefined
  const port = Number(args.port ?? process.env.PORT ?? 8080)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`kortex: invalid port ${JSON.stringify(args.port ?? process.env.PORT)}`)
    process.exit(2)
  }
  const host = args.host ?? process.env.HOST ?? '127.0.0.1'
  const configUrl = args['config-url'] ?? process.env.KORTEX_CONFIG_URL
  const embed = args.controller ?? process.env.KORTEX_CONTROLLER === '1'
  let k
  try {
    k = await startKortex({ configPath, configText, port, host, configUrl, configToken: process.env.KORTEX_CONFIG_TOKEN, configWaitSeconds: Number(process.env.KORTEX_CONFIG_WAIT_SECONDS) || undefined, controller: embed ? {} : undefined })
  } catch (err) {
    if (err instanceof ConfigError || err instanceof ConfigRefused) console.error(`kortex: the config was refused.\n${err.message}`)
    else if ((err as NodeJS.ErrnoException).code === 'ENOENT') console.error(`kortex: config file not found: ${configPath}`)
    else if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') console.error(`kortex: port ${port} is already in use (set PORT or --port)`)
    else console.error(`kortex: failed to start: ${(err as Error).message}`)
    process.exit(1)
  }
  shutdownOnSignals(k)
  if (!k.config()) {
    console.error(`Kortex is listening on ${k.url}  (not ready until its config arrives from ${configUrl ?? 'the embedded controller'}; /readyz answers 503 until then)`)
    await k.ready
  }
  const model = k.config()!.models[0]?.id ?? 'your-model'
  const keyNote = k.config()!.gateway.auth.open ? '' : ` \\\n    -H "Authorization: Bearer $KORTEX_API_KEY"`
  console.error(
    [
      `Kortex is listening on ${k.url}  (OpenAI base URL: ${k.url}/v1)`,
      k.usingDefaultConfig
        ? 'Config: the embedded demo config. Model "kortex-demo" is a built-in DEMO backend that echoes your message; no API key needed.'
        : configUrl || embed
          ? `Config: pulled from ${configUrl ?? 'the embedded controller'} (long poll; new versions apply as they come)`
          : configText
            ? 'Config: KORTEX_CONFIG_YAML (read once; restart to change it)'
            : `Config: ${configPath} (watched; edits reload)`,
      '',
      'Try it:',
      `  curl ${k.url}/v1/chat/completions -H 'content-type: application/json'${keyNote} \\`,
      `    -d '{"model":"${model}","messages":[{"role":"user","content":"Hello, Kortex"}]}'`,
      '',
    ].join('\n'),
  )
}

main()
