// The bench's upstream: answers OpenAI chat completions with a fixed ~1 KB
// body, and streams with gaps between chunks on `stream: true`.
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 0)
const answer = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1741570283,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'x'.repeat(700), refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 250, completion_tokens: 175, total_tokens: 425 },
  system_fingerprint: 'fp_bench',
})

const chunk = (delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`

const server = createServer((req, res) => {
  const parts: Buffer[] = []
  req.on('data', (c) => parts.push(c))
  req.on('end', () => {
    const streaming = Buffer.concat(parts).includes('"stream":true')
    if (!streaming) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) })
      return res.end(answer)
    }
    // Content every 100 ms: any buffering in a proxy shows as a later first byte.
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(chunk({ role: 'assistant', content: '' }))
    let i = 0
    const t = setInterval(() => {
      if (i < 5) res.write(chunk({ content: `part${i} ` }))
      else {
        clearInterval(t)
        res.write(chunk({}, 'stop'))
        res.end('data: [DONE]\n\n')
      }
      i++
    }, 100)
    res.on('close', () => clearInterval(t))
  })
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`))
process.on('SIGINT', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
