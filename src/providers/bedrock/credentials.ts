// Where a Bedrock request's credentials come from: the backend's own keys
// (secrets or the AWS_* environment), or, on EKS with IRSA, the web-identity
// token Kubernetes mounts, exchanged with STS AssumeRoleWithWebIdentity for
// temporary keys that are cached and exchanged again before they expire.
// Reading the token file needs the runtime: the Node adapter registers a
// reader (setWebIdentityTokenReader); src/ itself stays on Web APIs.
import type { AwsSettings } from '../../config/compile.ts'
import { UpstreamError } from '../errors.ts'
import type { FetchLike } from '../types.ts'

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

let readToken: ((path: string) => Promise<string>) | undefined

/** The runtime's way to read the mounted token (Node: fs.readFile), read again at every exchange since the kubelet rotates it. */
export function setWebIdentityTokenReader(read: ((path: string) => Promise<string>) | undefined): void {
  readToken = read
}

/** Exchanged this long before they expire, so no request is signed with keys about to lapse. */
const REFRESH_MS = 5 * 60_000
type Issued = { creds: AwsCredentials; expires: number }
/** Per role: the keys in hand, and the exchange under way (one at a time, however many requests wait). */
const cache = new Map<string, { issued?: Issued; pending?: Promise<Issued> }>()

export async function credentialsFor(aws: AwsSettings, fetch: FetchLike, now = Date.now()): Promise<AwsCredentials> {
  if (aws.accessKeyId && aws.secretAccessKey) return { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey, sessionToken: aws.sessionToken }
  const wi = aws.webIdentity
  if (!wi) throw new UpstreamError('unavailable', 'AWS credentials not configured (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)')
  const key = `${wi.roleArn}|${wi.tokenFile}|${aws.region}`
  const entry = cache.get(key) ?? {}
  cache.set(key, entry)
  const { issued } = entry
  if (issued && issued.expires - REFRESH_MS > now) return issued.creds
  entry.pending ??= assumeRole(aws.region, wi, fetch).finally(() => (entry.pending = undefined))
  try {
    entry.issued = await entry.pending
    return entry.issued.creds
  } catch (err) {
    // Keys still valid outlive a failed early refresh; else the failure is the answer, and the next request tries again.
    if (issued && issued.expires > now) return issued.creds
    throw err
  }
}

async function assumeRole(region: string, wi: NonNullable<AwsSettings['webIdentity']>, fetch: FetchLike): Promise<Issued> {
  if (!readToken) throw new UpstreamError('unavailable', 'IRSA web identity needs a runtime that can read AWS_WEB_IDENTITY_TOKEN_FILE (Node)')
  let token: string
  try {
    token = (await readToken(wi.tokenFile)).trim()
  } catch (err) {
    throw new UpstreamError('unavailable', `cannot read the web identity token ${wi.tokenFile}: ${err instanceof Error ? err.message : String(err)}`)
  }
  const form = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: wi.roleArn, RoleSessionName: wi.sessionName, WebIdentityToken: token })
  let res: Response
  try {
    res = await fetch(wi.stsUrl ?? `https://sts.${region}.amazonaws.com/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() })
  } catch (err) {
    throw new UpstreamError('connection', `STS could not be reached: ${err instanceof Error ? err.message : String(err)}`)
  }
  const xml = await res.text().catch(() => '')
  if (!res.ok) throw new UpstreamError(res.status >= 500 ? 'server' : 'auth', `STS AssumeRoleWithWebIdentity failed: ${tag(xml, 'Code') ?? `HTTP ${res.status}`}: ${tag(xml, 'Message') ?? ''}`.trim(), res.status)
  const accessKeyId = tag(xml, 'AccessKeyId')
  const secretAccessKey = tag(xml, 'SecretAccessKey')
  const sessionToken = tag(xml, 'SessionToken')
  const expires = Date.parse(tag(xml, 'Expiration') ?? '')
  if (!accessKeyId || !secretAccessKey || !sessionToken || Number.isNaN(expires)) throw new UpstreamError('auth', 'STS answered without credentials')
  return { creds: { accessKeyId, secretAccessKey, sessionToken }, expires }
}

/** One element's text in STS's XML answer (flat, no attributes on these). */
function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)
  return m ? m[1]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>') : undefined
}
