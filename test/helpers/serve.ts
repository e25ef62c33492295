// A command that runs a gateway (or the controller), started as a user would start it
// and stopped with its whole process group (npm and npx run the server as a grandchild).
import { spawn, type ChildProcess } from 'node:child_process'

export interface Served {
  url: string
  output: () => string
}

/**
 * Starts `cmd` in its own process group, on a free port unless `env.PORT` says otherwise;
 * resolves with the URL it prints once it serves; `stopAll` ends them.
 */
export function serve(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  opts: { cwd: string; children: ChildProcess[]; as?: { uid?: number; gid?: number } },
): Promise<Served> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(opts.as ?? {}) })
  opts.children.push(child)
  let out = ''
  return new Promise((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d
      const m = /(?:listening on|serving) (http:\/\/[\d.:]+)/.exec(out)
      if (m && (!/listening on/.test(m[0]) || /Try it:[\s\S]*-d '/.test(out))) resolve({ url: m[1]!, output: () => out })
    }
    child.stdout!.on('data', on)
    child.stderr!.on('data', on)
    child.on('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`)))
  })
}

/** Kills every process group `serve` started. */
export function stopAll(children: ChildProcess[]): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL')
}
