// Validation of a Responses API request. Like the chat schemas, it checks
// what the translation relies on and the types a backend would choke on;
// the items of `input` are checked where they are translated (request.ts),
// where each error can name its exact param (`input[2].content[0].type`).
import * as z from 'zod'

const typed = z.looseObject({ type: z.string() })

export const responsesRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.looseObject({ type: z.string().optional(), role: z.string().optional() }))]).optional(),
  instructions: z.string().nullish(),
  tools: z.array(typed).nullish(),
  tool_choice: z.union([z.enum(['auto', 'none', 'required']), typed]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  text: z
    .looseObject({
      format: z.looseObject({ type: z.enum(['text', 'json_object', 'json_schema']) }).optional(),
      verbosity: z.enum(['low', 'medium', 'high']).nullish(),
    })
    .nullish(),
  reasoning: z.looseObject({ effort: z.string().nullish() }).nullish(),
  max_output_tokens: z.int().min(1).nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  user: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  store: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  background: z.boolean().nullish(),
})

export type ResponsesRequest = z.infer<typeof responsesRequest>

/** A Responses item or content part as it arrives: checked field by field where it is read. */
export type Item = Record<string, unknown>
