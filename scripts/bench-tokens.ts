// node --import tsx scripts/bench-tokens.ts
// Token counting, measured: for each encoding, the time and heap to build an
// encoder (ours in src/usage/bpe.ts, and js-tiktoken's Tiktoken for reference,
// each in a fresh process), exact tokens/s on English, code and CJK, and how far
// the encoder-free estimate (src/usage/tokens.ts) lands from the exact count —
// next to chars ÷ 4 — with how often the exact count falls outside its range.
// Figures move with machine load: compare runs on a quiet machine.
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Tiktoken } from 'js-tiktoken/lite'
import { buildEncoder, type Encoding } from '../src/usage/bpe.ts'
import { estimateTextTokens } from '../src/usage/tokens.ts'

const root = new URL('..', import.meta.url).pathname
const ENCODINGS: Encoding[] = ['cl100k_base', 'o200k_base']
const MODEL: Record<Encoding, string> = { cl100k_base: 'gpt-4', o200k_base: 'gpt-4o' }

const ranksOf = async (enc: Encoding) =>
  (enc === 'cl100k_base' ? await import('js-tiktoken/ranks/cl100k_base') : await import('js-tiktoken/ranks/o200k_base')).default

// -- Corpora -------------------------------------------------------------------

const read = (f: string) => readFileSync(join(root, f), 'utf8')
function files(dir: string, ext: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(root, dir)).sort()) {
    const rel = join(dir, name)
    if (statSync(join(root, rel)).isDirectory()) out.push(...files(rel, ext))
    else if (name.endsWith(ext)) out.push(rel)
  }
  return out
}
function readmes(n: number): string[] {
  const out: string[] = []
  for (const pkg of readdirSync(join(root, 'node_modules')).sort()) {
    for (const name of ['README.md', 'readme.md', 'Readme.md']) {
      try {
        out.push(read(join('node_modules', pkg, name)))
        break
      } catch {}
    }
    if (out.length >= n) break
  }
  return out
}

const CJK = [
  `人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。该领域的研究包括机器人、语言识别、图像识别、自然语言处理和专家系统等。`,
  `大型语言模型通常基于变换器架构，通过在海量文本上进行自监督训练来学习语言的统计规律。推理时，模型逐个生成词元，每一步都依赖于之前生成的全部内容，因此长上下文会显著增加延迟和成本。`,
  `你好！我最近在学习编程，想问一下应该先学 Python 还是 JavaScript？我的目标是做数据分析，偶尔也想写一些小网站。另外，有没有推荐的入门书籍或者在线课程？`,
  `吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。`,
  `機械学習モデルを本番環境に導入する際には、推論の遅延、スループット、そしてコストのバランスを取ることが重要です。ゲートウェイはリクエストを受け付ける時点でトークン数を見積もり、適切なバックエンドへ振り分けます。`,
  `昨日は友達と一緒に渋谷で映画を見ました。とても面白かったです！そのあと、駅の近くのラーメン屋さんで晩ご飯を食べました。`,
  `대규모 언어 모델을 서비스할 때는 지연 시간과 처리량, 그리고 비용 사이의 균형을 맞추는 것이 중요합니다. 게이트웨이는 요청이 들어올 때 프롬프트의 토큰 수를 추정하여 어떤 백엔드로 보낼지 결정합니다.`,
  `안녕하세요! 이번 주말에 부산으로 여행을 가려고 하는데, 맛집이나 가볼 만한 곳을 추천해 주실 수 있나요? 해운대 근처에 숙소를 잡았습니다.`,
]
const OTHER = [
  `Большие языковые модели обучаются на огромных массивах текста и способны генерировать связные ответы на самые разные вопросы. При развёртывании важно учитывать задержку и стоимость.`,
  `تعتبر النماذج اللغوية الكبيرة من أهم التطورات في مجال الذكاء الاصطناعي، حيث يمكنها فهم النصوص وتوليدها بلغات متعددة.`,
  `बड़े भाषा मॉडल कृत्रिम बुद्धिमत्ता के क्षेत्र में एक महत्वपूर्ण प्रगति हैं, जो विभिन्न भाषाओं में पाठ को समझ और उत्पन्न कर सकते हैं।`,
  `Les grands modèles de langage sont entraînés sur d'immenses corpus de textes et peuvent générer des réponses cohérentes à une grande variété de questions.`,
  `Große Sprachmodelle werden auf riesigen Textmengen trainiert und können zusammenhängende Antworten auf eine Vielzahl von Fragen erzeugen.`,
]

function corpora(): Record<string, string[]> {
  return {
    english: [read('README.md'), ...readmes(40)],
    code: files('src', '.ts').map(read),
    cjk: CJK,
    other: OTHER,
  }
}

// -- Child: build one encoder in a clean heap ---------------------------------

const gc = (globalThis as { gc?: () => void }).gc
const heapMB = () => {
  gc?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}

async function child(enc: Encoding, impl: string) {
  const h0 = heapMB()
  let t = performance.now()
  const ranks = await ranksOf(enc)
  const importMs = performance.now() - t
  t = performance.now()
  const count =
    impl === 'kortex'
      ? buildEncoder(ranks).count
      : ((lib: Tiktoken) => (s: string) => lib.encode(s, [], []).length)(new Tiktoken(ranks))
  const buildMs = performance.now() - t
  const heap = heapMB() - h0
  const rate: Record<string, number> = {}
  for (const [name, texts] of Object.entries(corpora())) {
    const big = name === 'cjk' ? texts.join('\n').repeat(40) : texts.join('\n')
    count(big.slice(0, 20_000)) // warm up
    t = performance.now()
    const n = count(big)
    rate[name] = n / ((performance.now() - t) / 1000)
  }
  console.log(JSON.stringify({ importMs, buildMs, heap, rate }))
}

// -- Parent --------------------------------------------------------------------

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
const signed = (x: number) => `${x >= 0 ? '+' : ''}${fmt(x * 100, 1)}%`

async function main() {
  console.log('Encoder build, each in a fresh process (import of the ranks module + build; heap after GC)\n')
  console.log('encoding      impl         import ms  build ms   heap MB   tokens/s: english      code       cjk')
  for (const enc of ENCODINGS) {
    for (const impl of ['kortex', 'js-tiktoken']) {
      const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', new URL(import.meta.url).pathname, '--child', enc, impl], { cwd: root, encoding: 'utf8' })
      if (r.status !== 0) throw new Error(r.stderr)
      const m = JSON.parse(r.stdout.trim().split('\n').pop()!)
      console.log(
        `${enc.padEnd(13)} ${impl.padEnd(12)} ${fmt(m.importMs).padStart(9)} ${fmt(m.buildMs).padStart(9)} ${fmt(m.heap, 1).padStart(9)}   ${fmt(m.rate.english).padStart(16)} ${fmt(m.rate.code).padStart(9)} ${fmt(m.rate.cjk).padStart(9)}`,
      )
    }
  }

  const encoders = Object.fromEntries(await Promise.all(ENCODINGS.map(async (e) => [e, buildEncoder(await ranksOf(e))] as const)))
  const all = corpora()

  console.log('\nEstimate vs exact, whole corpus (error = estimate / exact − 1)\n')
  console.log('corpus    encoding         exact   estimate   error  [low, high] holds   chars÷4 error')
  for (const [name, texts] of Object.entries(all)) {
    const text = texts.join('\n')
    for (const enc of ENCODINGS) {
      const n = encoders[enc]!.count(text)
      const e = estimateTextTokens(text, MODEL[enc])
      const holds = e.low <= n && n <= e.high
      console.log(
        `${name.padEnd(9)} ${enc.padEnd(12)} ${fmt(n).padStart(9)} ${fmt(e.tokens).padStart(10)} ${signed(e.tokens / n - 1).padStart(7)}  ${holds ? 'yes' : 'NO '} (${signed(e.low / n - 1)}, ${signed(e.high / n - 1)})  ${signed(text.length / 4 / n - 1).padStart(8)}`,
      )
    }
  }

  console.log('\nEstimate per chunk, as one message would be (english + code + cjk + other)\n')
  console.log('chunk   encoding     chunks   exact/estimate p1   p50    p99   outside [low, high]   range high/low (median)')
  const pieces = [...all.english!, ...all.code!, ...all.cjk!, ...all.other!]
  for (const size of [500, 2000, 8000]) {
    for (const enc of ENCODINGS) {
      const q: number[] = []
      const width: number[] = []
      let outside = 0
      for (const text of pieces) {
        for (let i = 0; i < text.length; i += size) {
          const chunk = text.slice(i, i + size)
          if (chunk.length < size / 4) continue
          const n = encoders[enc]!.count(chunk)
          const e = estimateTextTokens(chunk, MODEL[enc])
          q.push(n / e.tokens)
          width.push(e.high / Math.max(1, e.low))
          if (n < e.low || n > e.high) outside++
        }
      }
      q.sort((a, b) => a - b)
      width.sort((a, b) => a - b)
      console.log(
        `${String(size).padStart(5)}   ${enc.padEnd(12)} ${String(q.length).padStart(6)}   ${fmt(pct(q, 0.01), 2).padStart(15)} ${fmt(pct(q, 0.5), 2).padStart(6)} ${fmt(pct(q, 0.99), 2).padStart(6)}   ${fmt((outside / q.length) * 100, 2).padStart(8)}%              ${fmt(pct(width, 0.5), 2)}`,
      )
    }
  }

  const text = all.english!.join('\n') + all.code!.join('\n')
  const t = performance.now()
  let runs = 0
  while (performance.now() - t < 1000) {
    estimateTextTokens(text, 'gpt-4o')
    runs++
  }
  const sec = (performance.now() - t) / 1000
  const est = estimateTextTokens(text, 'gpt-4o').tokens
  console.log(`\nEstimate speed: ${fmt((text.length * runs) / sec / 2 ** 20, 1)} MB/s of text, ~${fmt((est * runs) / sec)} tokens/s (english + code, ${fmt(text.length / 1024)} KB)`)
}

if (process.argv[2] === '--child') await child(process.argv[3] as Encoding, process.argv[4]!)
else await main()
