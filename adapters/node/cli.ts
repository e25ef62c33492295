// The `kortex` command: the gateway, or one of its subcommands. Each is
// imported only when asked for, so the bundle splits here and a gateway never
// loads the controller's Kubernetes client (nor a controller the gateway).
import pkg from '../../package.json' with { type: 'json' }

const [command] = process.argv.slice(2)
if (command === '--version' || command === '-v') console.log(pkg.version)
else if (command === 'validate') process.exitCode = await (await import('./validate.ts')).validate(process.argv.slice(3))
else if (command === 'controller') await import('../../k8s/controller/main.ts')
else await import('./main.ts')
