// Token counts: exact against tiktoken's published values and js-tiktoken,
// estimates whose range holds the exact count, and the encoder loaded only
// when a decision needs it.
import { describe, expect, it, vi } from 'vitest'
import { Tiktoken } from 'js-tiktoken/lite'
import {
  countPromptTokens,
  countTextTokens,
  encodingFor,
  estimatePromptTokens,
  estimateTextTokens,
  promptTokensWithin,
  reservePromptTokens,
  type Encoding,
} from '../../src/usage/tokens.ts'
import { buildEncoder, nextPieceEnd, readyEncoder } from '../../src/usage/bpe.ts'
import { packageRanks } from '../../src/usage/package-ranks.ts'
import { readFileSync } from 'node:fs'

const ENGLISH = `The gateway receives every request before any backend sees it, so it is the natural place
to decide where a prompt should go. Long prompts are expensive on the largest models and slow on
the smallest ones; a rule that sends anything over four thousand tokens to a model with a larger
context window keeps both latency and cost in check. Counting tokens exactly, however, means
building a tokenizer, which takes more than a second and tens of megabytes — too much to do on
every cold start, and wasteful when the prompt is obviously short or obviously long.`

const CODE = `export async function retry<T>(fn: () => Promise<T>, attempts = 3, delayMs = 200): Promise<T> {
  let last: unknown
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn()
    } catch (err) {
      last = err
      if (i + 1 < attempts) await new Promise((r) => setTimeout(r, delayMs * 2 ** i))
    }
  }
  throw last instanceof Error ? last : new Error(String(last))
}

const ROUTES = [{ re: /^\\/v1\\/models\\/([^/:]+)$/, methods: ['GET'] }, { re: /^\\/v2\\/health$/, methods: ['GET'] }]`

const CHINESE = `人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。在部署推理网关时，我们需要考虑路由、限流、故障转移和成本控制。网关应当在请求进入时估算提示词的词元数量，以便决定将请求发送到哪个后端。`
const JAPANESE = `機械学習モデルを本番環境に導入する際には、推論の遅延、スループット、そしてコストのバランスを取ることが重要です。ゲートウェイはリクエストを受け付ける時点でトークン数を見積もり、適切なバックエンドへ振り分けます。`
const KOREAN = `대규모 언어 모델을 서비스할 때는 지연 시간과 처리량, 그리고 비용 사이의 균형을 맞추는 것이 중요합니다. 게이트웨이는 요청이 들어올 때 프롬프트의 토큰 수를 추정합니다.`
const RUSSIAN = `Большие языковые модели обучаются на огромных массивах текста. При развёртывании таких моделей важно учитывать задержку, пропускную способность и стоимость каждого запроса.`
const FRENCH = `Les grands modèles de langage sont entraînés sur d'immenses corpus de textes et peuvent générer des réponses cohérentes. Lors du déploiement, il faut tenir compte de la latence et du coût.`
const MIXED = `请帮我把下面这段 Python 代码改成 TypeScript，并且保留所有注释。函数 parse_config 读取 YAML 文件，如果字段 timeout 缺失，就使用默认值 30 秒。`
const SAMPLES = { ENGLISH, CODE, CHINESE, JAPANESE, KOREAN, RUSSIAN, FRENCH, MIXED }

// OpenAI cookbook, "How to count tokens with tiktoken": 129 prompt tokens on gpt-3.5-turbo
// and gpt-4, 124 on gpt-4o, as reported by the API.
const COOKBOOK_MESSAGES = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
]

// Same notebook, with a tool: 105 on gpt-3.5-turbo and gpt-4, 101 on gpt-4o.
const COOKBOOK_TOOLS = {
  messages: [
    { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
    { role: 'user', content: "What's the weather like in San Francisco?" },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_current_weather',
        description: 'Get the current weather in a given location',
        parameters: {
          type: 'object',
          properties: {
            location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
            unit: { type: 'string', description: 'The unit of temperature to return', enum: ['celsius', 'fahrenheit'] },
          },
          required: ['location'],
        },
      },
    },
  ],
}

/** A fresh copy of the modules, so nothing another test loaded counts. */
async function fresh() {
  vi.resetModules()
  const t = await import('../../src/usage/tokens.ts')
  t.useRankSource(packageRanks)
  return t
}

describe('encodingFor', () => {
  it.each([
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['chatgpt-4o-latest', 'o200k_base'],
    ['gpt-4.1-nano', 'o200k_base'],
    ['gpt-5-mini', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o3-mini', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['openai/gpt-4o', 'o200k_base'],
    ['ft:gpt-4o-mini-2024-07-18:acme::abc123', 'o200k_base'],
    ['GPT-4O', 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-turbo', 'cl100k_base'],
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['gpt-35-turbo', 'cl100k_base'],
    ['text-embedding-3-small', 'cl100k_base'],
    ['text-embedding-ada-002', 'cl100k_base'],
    // No public encoding: cl100k_base stands in.
    ['claude-3-opus-20240229', 'cl100k_base'],
    ['meta-llama/Llama-3.1-70B-Instruct', 'cl100k_base'],
    ['mistral-large-latest', 'cl100k_base'],
    ['gemini-1.5-pro', 'cl100k_base'],
    ['qwen2.5-72b-instruct', 'cl100k_base'],
    ['o10-not-a-model', 'cl100k_base'],
  ])('%s → %s', (model, enc) => {
    expect(encodingFor(model)).toBe(enc)
  })
})

describe('the encoder is loaded only when a decision needs it', () => {
  it('estimates and far-from-threshold decisions load nothing', async () => {
    const t = await fresh()
    const short = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello there' }] }
    const long = { model: 'gpt-4o', messages: [{ role: 'user', content: ENGLISH.repeat(60) }] }
    t.estimatePromptTokens(long)
    t.estimateTextTokens(CHINESE, 'gpt-4')
    expect(await t.promptTokensWithin(short, 'gpt-4o', 4000)).toBe(false)
    expect(await t.promptTokensWithin(short, 'gpt-4o', undefined, 4000)).toBe(true)
    expect(await t.promptTokensWithin(long, 'gpt-4o', 4000)).toBe(true)
    expect(await t.promptTokensWithin(long, 'claude-3-opus', 0, 1000)).toBe(false)
    expect(await t.promptTokensWithin(long, 'gpt-4o')).toBe(true)
    // Already tokens: nothing to encode.
    expect(await t.countPromptTokens({ input: [[1, 2, 3], [4, 5]] }, 'text-embedding-3-small')).toBe(5)
    expect(await t.countPromptTokens({ prompt: [1, 2, 3] }, 'gpt-3.5-turbo-instruct')).toBe(3)
    expect(await t.countTextTokens('', 'gpt-4o')).toBe(0)
    expect(t.loadedEncodings()).toEqual([])
  })

  it('a range that straddles a bound loads that one encoding, once for concurrent callers', async () => {
    const t = await fresh()
    const body = { messages: [{ role: 'user', content: ENGLISH }] }
    const exact = await countPromptTokens(body, 'gpt-4o') // the shared copy: fresh() stays unloaded
    expect(t.loadedEncodings()).toEqual([])
    const answers = await Promise.all([
      t.promptTokensWithin(body, 'gpt-4o', exact),
      t.promptTokensWithin(body, 'gpt-4o', exact + 1),
      t.promptTokensWithin(body, 'gpt-4o', undefined, exact - 1),
      t.promptTokensWithin(body, 'gpt-4o', exact, exact),
    ])
    expect(answers).toEqual([true, false, false, true])
    expect(t.loadedEncodings()).toEqual(['o200k_base'])
  })
})

describe('exact counts', () => {
  // tiktoken's published values (cookbook "Comparing encodings" and README).
  it.each([
    ['hello world', 2, 2],
    ['tiktoken is great!', 6, 6],
    ['antidisestablishmentarianism', 6, 6],
    ['2 + 2 = 4', 7, 7],
    ['お誕生日おめでとう', 9, 8],
  ])('%j: %i in cl100k_base, %i in o200k_base', async (text, cl, o2) => {
    expect(await countTextTokens(text, 'gpt-4')).toBe(cl)
    expect(await countTextTokens(text, 'gpt-4o')).toBe(o2)
  })

  it("the cookbook's chat example: 129 on gpt-3.5-turbo / gpt-4, 124 on gpt-4o", async () => {
    for (const m of ['gpt-3.5-turbo', 'gpt-4', 'gpt-4-0613']) expect(await countPromptTokens({ messages: COOKBOOK_MESSAGES }, m)).toBe(129)
    for (const m of ['gpt-4o', 'gpt-4o-mini']) expect(await countPromptTokens({ messages: COOKBOOK_MESSAGES }, m)).toBe(124)
  })

  it("the cookbook's tool example: 105 on gpt-3.5-turbo / gpt-4, 101 on gpt-4o", async () => {
    expect(await countPromptTokens(COOKBOOK_TOOLS, 'gpt-4')).toBe(105)
    expect(await countPromptTokens(COOKBOOK_TOOLS, 'gpt-3.5-turbo')).toBe(105)
    expect(await countPromptTokens(COOKBOOK_TOOLS, 'gpt-4o')).toBe(101)
  })

  it('text parts of array content count like a string; images at their nominal size', async () => {
    const asString = await countPromptTokens({ messages: [{ role: 'user', content: ENGLISH }] }, 'gpt-4o')
    const asParts = await countPromptTokens({ messages: [{ role: 'user', content: [{ type: 'text', text: ENGLISH }] }] }, 'gpt-4o')
    expect(asParts).toBe(asString)
    const image = (detail?: string) => ({ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail } })
    const withImages = { messages: [{ role: 'user', content: [{ type: 'text', text: ENGLISH }, image(), image('low')] }] }
    expect(await countPromptTokens(withImages, 'gpt-4o')).toBe(asString + 765 + 85)
  })

  it('completions and embeddings inputs: strings and token arrays', async () => {
    const one = await countTextTokens(ENGLISH, 'gpt-4')
    expect(await countPromptTokens({ prompt: ENGLISH }, 'gpt-4')).toBe(one)
    expect(await countPromptTokens({ prompt: [ENGLISH, ENGLISH] }, 'gpt-3.5-turbo-instruct')).toBe(2 * one)
    expect(await countPromptTokens({ input: [ENGLISH, 'hello world'] }, 'text-embedding-3-small')).toBe(one + 2)
  })

  it('special tokens in user text count as text and do not throw', async () => {
    expect(await countTextTokens('a <|endoftext|> b', 'gpt-4')).toBe(8)
    expect(await countTextTokens('<|endofprompt|><|fim_prefix|>', 'gpt-4o')).toBeGreaterThan(2)
  })

  it('a long run without a break is linear, not quadratic', async () => {
    const t0 = performance.now()
    expect(await countTextTokens('a'.repeat(100_000), 'gpt-4o')).toBe(12_500)
    expect(await countTextTokens('z'.repeat(50_000) + 'q'.repeat(50_000), 'gpt-4')).toBeGreaterThan(1000)
    expect(performance.now() - t0).toBeLessThan(5000) // js-tiktoken: a minute for 16k letters
  })

  it('texts that come back are counted once; the last message, new each turn, is not kept', async () => {
    const system = CODE.repeat(3) + 'unique-suffix-for-this-test'
    const question = `${ENGLISH} (a question no other test asks)`
    const turn = (user: string) => ({ messages: [{ role: 'system', content: system }, { role: 'user', content: user }] })
    const first = await countPromptTokens(turn(question), 'gpt-4')
    const encoder = readyEncoder('cl100k_base')!
    const counted: string[] = []
    const steps = encoder.steps
    const spy = vi.spyOn(encoder, 'steps').mockImplementation((t) => (counted.push(t), steps(t)))
    try {
      expect(await countPromptTokens(turn(question), 'gpt-4')).toBe(first)
      expect(counted).toEqual([question])
      // The next turn sends the last one back as history: counted this once more, then kept.
      const next = { messages: [...turn(question).messages, { role: 'user', content: 'And in one line?' }] }
      await countPromptTokens(next, 'gpt-4')
      await countPromptTokens(next, 'gpt-4')
      expect(counted).toEqual([question, question, 'And in one line?', 'And in one line?'])
    } finally {
      spy.mockRestore()
    }
  })
})

describe('one huge prompt does not hold the event loop', () => {
  // Counting it whole at once took 1.4–4.4 s for 3.9 MB, during which nothing else ran.
  const words = (n: number, seed: number) => {
    let s = ''
    let x = seed
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0
      s += `${(x % 1_000_003).toString(36)} `
    }
    return s
  }

  it('a reservation for a huge prompt lets timers run while it is counted, and is still exact', async () => {
    const text = words(200_000, 7) + 'x'.repeat(50_000) // and one piece of 50,000 letters
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: text }] }
    const wrapping = (await countPromptTokens({ messages: [{ role: 'user', content: 'a' }] }, 'gpt-4o')) - 1 // loads the encoder
    const exact = wrapping + readyEncoder('o200k_base')!.count(text) // the whole text at once
    let ticks = 0
    const timer = setInterval(() => ticks++, 0)
    try {
      const n = await reservePromptTokens(body, 'gpt-4o')
      expect(ticks).toBeGreaterThan(1) // other work ran between slices of the count
      expect(n).toBe(exact)
    } finally {
      clearInterval(timer)
    }
  })

  it('so does one of many short messages (100,000 of a few words: the same megabytes, cut small)', async () => {
    const messages = Array.from({ length: 100_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: words(3, i) }))
    const body = { model: 'gpt-4o', messages }
    // Message by message: each one's count above an empty prompt's, and that once.
    const none = await countPromptTokens({ messages: [] }, 'gpt-4o')
    let exact = none
    for (const m of messages) exact += (await countPromptTokens({ messages: [m] }, 'gpt-4o')) - none
    let ticks = 0
    const timer = setInterval(() => ticks++, 0)
    try {
      const n = await reservePromptTokens(body, 'gpt-4o')
      expect(n).toBe(exact)
      expect(ticks).toBeGreaterThan(1) // other work ran between slices of the count
    } finally {
      clearInterval(timer)
    }
  })

  it('a small prompt is still counted at once, with no promise', async () => {
    await countPromptTokens({ messages: [{ role: 'user', content: 'warm' }] }, 'gpt-4')
    expect(typeof reservePromptTokens({ messages: [{ role: 'user', content: ENGLISH }] }, 'gpt-4')).toBe('number')
  })
})

describe('matches js-tiktoken exactly', () => {
  const text = (alphabet: string[], n: number, seed: number) => {
    let s = ''
    let x = seed
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31
      s += alphabet[x % alphabet.length]
    }
    return s
  }
  const alphabet = [...'abcdefghijkLMNOPQ0123456789  \n\t.,;:!?-_=+()[]{}<>\'"/\\éüñß人工智能計算機日本語한국어Москваالقاهرةभारतไทย😀👍🏽\u200d\ufe0f']
  const inputs = [
    ...Object.values(SAMPLES),
    ...Array.from({ length: 200 }, (_, i) => text(alphabet, 20 + i * 3, i + 1)),
    // Pieces long enough for the heap merge.
    'x'.repeat(700),
    'ab'.repeat(400),
    text([...'abcdefghijklmnopqrstuvwxyz'], 900, 7),
    '人'.repeat(300),
    'é'.repeat(500),
  ]

  it.each(['cl100k_base', 'o200k_base'] as Encoding[])('%s', { timeout: 60_000 }, async (enc) => {
    const ranks = (enc === 'cl100k_base' ? await import('js-tiktoken/ranks/cl100k_base') : await import('js-tiktoken/ranks/o200k_base')).default
    const ours = buildEncoder(ranks)
    const theirs = new Tiktoken(ranks)
    for (const s of inputs) expect(ours.count(s), JSON.stringify(s.slice(0, 40))).toBe(theirs.encode(s, [], []).length)
  })
})

// ASCII text is split by hand (pretokenize.ts) and the rest by the encoding's regex:
// every piece boundary must be the regex's own, on real text and on strings made
// of the characters where the rules turn (contractions, case changes, breaks,
// whitespace before a word, digits, and non-ASCII neighbours the scan hands back).
describe('the hand-written split matches the pretokenizer regex', () => {
  const tricky = [..."aAbBsStTrReEvVlLmMdDzZ0959  \t\n\r\x0b\x0c\x00\x1c\x7f'''.,/-_!?$\"é\u00a0Ωß²日👍\u2028"]
  let x = 12345
  const rnd = (k: number) => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % k
  }
  const fuzz = Array.from({ length: 20_000 }, () => Array.from({ length: 1 + rnd(30) }, () => tricky[rnd(tricky.length)]).join(''))
  const real = [readFileSync(new URL('../../README.md', import.meta.url), 'utf8'), CODE, ENGLISH, ...Object.values(SAMPLES)]

  it.each([
    ['cl100k_base', 'cl100k'],
    ['o200k_base', 'o200k'],
  ] as const)('%s', async (enc, split) => {
    const ranks = (enc === 'cl100k_base' ? await import('js-tiktoken/ranks/cl100k_base') : await import('js-tiktoken/ranks/o200k_base')).default
    const regex = new RegExp(ranks.pat_str, 'yu')
    let pieces = 0
    for (const t of [...real, ...fuzz]) {
      for (let at = 0; at < t.length; pieces++) {
        const byHand = nextPieceEnd(t, at, regex, split)
        const byRegex = nextPieceEnd(t, at, regex, undefined)
        if (byHand !== byRegex) expect({ text: t.slice(at, at + 20), piece: t.slice(at, byHand) }).toEqual({ text: t.slice(at, at + 20), piece: t.slice(at, byRegex) })
        at = byHand
      }
    }
    expect(pieces).toBeGreaterThan(100_000)
  })
})

describe('estimates', () => {
  it.each(Object.entries(SAMPLES))('the range holds the exact count: %s', async (_, text) => {
    for (const model of ['gpt-4', 'gpt-4o']) {
      const e = estimateTextTokens(text, model)
      const n = await countTextTokens(text, model)
      expect(e.low, model).toBeLessThanOrEqual(n)
      expect(e.high, model).toBeGreaterThanOrEqual(n)
      expect(e.tokens).toBeGreaterThanOrEqual(e.low)
      expect(e.tokens).toBeLessThanOrEqual(e.high)
    }
    // Without a model the range covers both encodings.
    const both = estimateTextTokens(text)
    for (const model of ['gpt-4', 'gpt-4o']) {
      const n = await countTextTokens(text, model)
      expect(both.low).toBeLessThanOrEqual(n)
      expect(both.high).toBeGreaterThanOrEqual(n)
    }
  })

  it('is tight for English and code, and far better than chars ÷ 4 on CJK', async () => {
    for (const text of [ENGLISH, CODE]) {
      const e = estimateTextTokens(text, 'gpt-4o')
      const n = await countTextTokens(text, 'gpt-4o')
      expect(Math.abs(e.tokens - n) / n).toBeLessThan(0.15)
      expect(e.high / e.low).toBeLessThan(2)
    }
    for (const text of [CHINESE, JAPANESE, KOREAN]) {
      const n = await countTextTokens(text, 'gpt-4')
      const e = estimateTextTokens(text, 'gpt-4')
      expect(Math.abs(e.tokens - n) / n).toBeLessThan(0.25)
      expect(text.length / 4 / n).toBeLessThan(0.4) // what chars ÷ 4 would say
    }
  })

  it('a chat prompt: wrapping exact, text estimated; the range holds the count', async () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: ENGLISH },
        { role: 'user', name: 'dev', content: [{ type: 'text', text: CODE }, { type: 'text', text: CHINESE }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":"weather in Paris"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: RUSSIAN },
      ],
      tools: COOKBOOK_TOOLS.tools,
    }
    for (const model of ['gpt-4', 'gpt-4o', 'claude-3-5-sonnet']) {
      const e = estimatePromptTokens(body, model)
      const n = await countPromptTokens(body, model)
      expect(e.low).toBeLessThanOrEqual(n)
      expect(e.high).toBeGreaterThanOrEqual(n)
    }
    expect(estimatePromptTokens(body).tokens).toBe(estimatePromptTokens(body, 'gpt-4o').tokens) // follows body.model
    const cookbook = estimatePromptTokens({ messages: COOKBOOK_MESSAGES })
    expect(cookbook.low).toBeLessThanOrEqual(124)
    expect(cookbook.high).toBeGreaterThanOrEqual(129)
  })

  it('images: a range from a low-detail to the largest high-detail image', () => {
    const img = { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }
    const e = estimatePromptTokens(img, 'gpt-4o')
    const wrap = 3 + 1 + 3 // message, role, reply
    expect(e).toEqual({ tokens: wrap + 765, low: wrap + 85, high: wrap + 1445 })
  })

  it('empty and token-array inputs are exact', () => {
    expect(estimatePromptTokens({})).toEqual({ tokens: 0, low: 0, high: 0 })
    expect(estimatePromptTokens({ input: [[1, 2, 3], [4]] })).toEqual({ tokens: 4, low: 4, high: 4 })
    expect(estimatePromptTokens({ messages: [] })).toEqual({ tokens: 3, low: 3, high: 3 })
  })
})

describe('malformed bodies never throw', () => {
  const deep: Record<string, unknown> = {}
  let at = deep
  for (let i = 0; i < 5000; i++) at = (at.properties = { x: { type: 'object' } }).x as Record<string, unknown>
  const bodies: unknown[] = [
    null,
    undefined,
    42,
    'a string',
    [],
    {},
    { messages: 'hello' },
    { messages: null },
    { messages: [null, 1, 'str', [], { role: 5, content: { a: 1 } }, { content: [null, 2, [], { type: 'text', text: 5 }, { type: 'image_url' }, { type: 'input_audio', input_audio: {} }] }] },
    { messages: [{ role: 'user', content: 'hi', name: 7, tool_calls: 'x', function_call: 5 }], tools: 'x', functions: [null, 1] },
    { messages: [{ role: 'assistant', tool_calls: [null, { function: null }, { function: { name: 1, arguments: {} } }] }] },
    { messages: [], tools: [null, { type: 'function' }, { function: { name: 1, parameters: { properties: { a: null, b: { enum: [1, { x: 1 }, null], type: ['string', 3] } } } } }] },
    { messages: [], tools: [{ function: { name: 'deep', parameters: deep } }] },
    { prompt: 5 },
    { prompt: [null, [1, 'x'], {}, 3] },
    { input: { text: 'x' } },
    { input: [[1, 2, 'x'], null] },
    { messages: [{ role: 'user', content: '\ud800 lone surrogate \udfff' }] },
  ]

  it.each(bodies.map((b, i) => [i, b]))('body %i', async (_, body) => {
    const b = body as Record<string, unknown>
    expect(() => estimatePromptTokens(b)).not.toThrow()
    const e = estimatePromptTokens(b, 'gpt-4o')
    expect(e.low).toBeLessThanOrEqual(e.tokens)
    expect(e.tokens).toBeLessThanOrEqual(e.high)
    const n = await countPromptTokens(b, 'gpt-4o')
    expect(Number.isInteger(n)).toBe(true)
    expect(typeof (await promptTokensWithin(b, 'gpt-4o', 10, 20))).toBe('boolean')
  })

  it('a model that is not a string', async () => {
    expect(encodingFor(undefined as unknown as string)).toBe('cl100k_base')
    expect(await countTextTokens('hello world', null as unknown as string)).toBe(2)
  })
})
