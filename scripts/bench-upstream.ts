// The bench's upstream: answers OpenAI chat completions with a fixed ~1 KB
// body, and streams with gaps between chunks on `stream: true`: content every
// 100 ms, or with `fast` as the second argument (npm run bench:stream) the
// 20 events of STREAM_EVENTS 1 ms apart (BENCH_CHUNK_GAP_MS), each in its own
// write, then the usage chunk when asked for and [DONE].
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 0)
const fast = process.argv[3] === 'fast'
const GAP_MS = Number(process.env.BENCH_CHUNK_GAP_MS ?? 1)
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

/** The data events of one fast stream: the role preamble, 18 pieces of text (~5 tokens each), the finish. */
const STREAM_EVENTS = 20
const fastEvents = [
  chunk({ role: 'assistant', content: '', refusal: null }),
  ...Array.from({ length: STREAM_EVENTS - 2 }, (_, i) => chunk({ content: ` word${i} and some more` })),
  chunk({}, 'stop'),
]
const usageEvent = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 250, completion_tokens: 90, total_tokens: 340 } })}\n\n`

/** Each event in its own write, GAP_MS apart, as a model's tokens come: a proxy reads them one by one. */
function fastStream(res: import('node:http').ServerResponse, usage: boolean) {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  const events = usage ? [...fastEvents, usageEvent] : fastEvents
  let i = 0
  let t: ReturnType<typeof setTimeout> | undefined
  const next = () => {
    if (i < events.length) {
      res.write(events[i++])
      if (GAP_MS > 0) t = setTimeout(next, GAP_MS)
      else setImmediate(next)
    } else if (i++ === events.length) res.end('data: [DONE]\n\n')
  }
  next()
  res.on('close', () => {
    clearTimeout(t)
    i = events.length + 1
  })
}

const server = createServer((req, res) => {
  const parts: Buffer[] = []
  req.on('data', (c) => parts.push(c))
  req.on('end', () => {
    const streaming = Buffer.concat(parts).includes('"stream":true')
    if (!streaming) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) })
      return res.end(answer)
    }
    if (fast) return fastStream(res, /"include_usage":\s*true/.test(Buffer.concat(parts).toString()))
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
