// The reference: the least a Node proxy can do. node:http in, undici
// Pool.request out, bodies piped both ways, no parsing.
import { createServer } from 'node:http'
import { Pool } from 'undici'

const [port, upstream] = [Number(process.argv[2] ?? 0), process.argv[3]!]
const pool = new Pool(upstream, { connections: 128, keepAliveTimeout: 60_000 })

const server = createServer(async (req, res) => {
  try {
    const parts: Buffer[] = []
    for await (const c of req) parts.push(c as Buffer)
    const up = await pool.request({ path: req.url!, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(parts) })
    res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') })
    up.body.pipe(res)
  } catch (err) {
    res.writeHead(502).end(String(err))
  }
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`))
process.on('SIGINT', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
