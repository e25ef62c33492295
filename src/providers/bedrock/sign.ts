// Bedrock requests, signed with Signature V4 by aws4fetch (Web Crypto only,
// so it runs on Workers too). The signer alone, not AwsClient: its fetch
// retries 5xx and 429 on its own, which would hide them from failover.
import { AwsV4Signer } from 'aws4fetch'
import { UpstreamError, fromFetchError } from '../errors.ts'
import type { UpstreamCall } from '../types.ts'
import { fromBedrockResponse } from './errors.ts'
import { credentialsFor } from './credentials.ts'

/** The signature's service name for bedrock-runtime. */
export const SERVICE = 'bedrock'

/** POSTs `body` as JSON, signed; resolves to a 2xx response, throws UpstreamError for anything else. */
export async function signedPost(call: UpstreamCall, url: string, body: unknown, accept = 'application/json'): Promise<Response> {
  const aws = call.backend.aws
  if (call.backend.missingSecret || !aws) throw new UpstreamError('unavailable', `AWS credentials not configured (set ${call.backend.missingSecret ?? 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'})`)
  const creds = await credentialsFor(aws, call.fetch)
  let payload: string
  try {
    payload = JSON.stringify(body)
  } catch (err) {
    throw new UpstreamError('bad_request', `The request cannot be forwarded: ${err instanceof Error ? err.message : String(err)}`)
  }
  const signed = await new AwsV4Signer({
    method: 'POST',
    url,
    headers: { ...call.backend.headers, 'content-type': 'application/json', accept },
    body: payload,
    ...creds,
    service: SERVICE,
    region: aws.region,
  }).sign()
  let res: Response
  try {
    res = await call.fetch(signed.url.toString(), { method: 'POST', headers: signed.headers, body: payload, signal: call.signal })
  } catch (err) {
    throw fromFetchError(err, call.signal)
  }
  if (!res.ok) throw await fromBedrockResponse(res)
  return res
}

/** The model's path segment: ids hold ':' and ARNs '/' (the signer encodes the path once more, as SigV4 wants). */
export const modelPath = (base: string, model: string, action: string) => `${base}/model/${encodeURIComponent(model)}/${action}`
