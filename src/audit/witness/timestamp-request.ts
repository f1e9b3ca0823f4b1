/**
 * Asking an RFC 3161 Time-Stamp Authority for a token over a checkpoint's digest (the server's side; the
 * offline verifier only needs timestamp.ts).
 */
import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { assertImprint, assertSha256, hexOfInteger, openToken, parse, TimestampError, type TimestampReceipt } from './timestamp';
import { algorithm, derOf, failureNames, OID, PKI_STATUS, toArrayBuffer } from './timestamp-asn1';

const DEFAULT_TIMEOUT_MS = 10_000;
/** Generous for a token with a certificate chain; a reply larger than this is not a timestamp. */
const MAX_REPLY_BYTES = 256 * 1024;
/** Bounds the read loop even if a stream yields empty chunks. */
const MAX_REPLY_CHUNKS = 4096;
/**
 * A DER TimeStampReq for a SHA-256 digest, asking for the TSA certificate (certReq) so a token can be
 * verified on its own. Without a nonce the request carries none; requestTimestamp always sends one.
 */
export function buildTimestampQuery(digest: Buffer, nonce?: bigint): Buffer {
  assertSha256(digest);
  if (nonce !== undefined && nonce <= 0n) throw new TimestampError('a timestamp nonce must be a positive integer');
  const request = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: algorithm(OID.sha256),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(digest) }),
    }),
    certReq: true,
  });
  if (nonce !== undefined) request.nonce = asn1js.Integer.fromBigInt(nonce);
  return derOf(request.toSchema());
}

/** A positive 64-bit nonce; a zero draw (2^-64) becomes 1 so the value is always acceptable. */
function newNonce(): bigint {
  const n = BigInt(`0x${randomBytes(8).toString('hex')}`);
  return n === 0n ? 1n : n;
}

/** Origin and path only: a TSA URL may carry an API key in its query. */
function publicUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TimestampError('the TSA URL is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TimestampError(`the TSA URL must use http or https, got ${parsed.protocol}`);
  }
  if (parsed.username || parsed.password) throw new TimestampError('the TSA URL must not contain credentials (fetch refuses to send them)');
  return `${parsed.origin}${parsed.pathname}`;
}

async function readReply(response: Response, where: string): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_REPLY_BYTES) throw new TimestampError(`TSA ${where} sent a reply of ${declared} bytes, more than a timestamp can be`);
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  for (let i = 0; i < MAX_REPLY_CHUNKS; i++) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, total);
    total += value.byteLength;
    if (total > MAX_REPLY_BYTES) {
      await reader.cancel();
      throw new TimestampError(`TSA ${where} sent more than ${MAX_REPLY_BYTES} bytes, more than a timestamp can be`);
    }
    chunks.push(Buffer.from(value));
  }
  await reader.cancel();
  throw new TimestampError(`TSA ${where} sent its reply in too many pieces`);
}

function describeStatus(statusInfo: pkijs.PKIStatusInfo): string {
  const name = Object.entries(PKI_STATUS).find(([, v]) => v === statusInfo.status)?.[0] ?? `status ${statusInfo.status}`;
  const text = (statusInfo.statusStrings ?? []).map((s) => s.valueBlock.value).join('; ').slice(0, 200);
  const failures = failureNames(statusInfo.failInfo);
  return `${name}${failures.length ? ` (${failures.join(', ')})` : ''}${text ? `: "${text}"` : ''}`;
}

/**
 * Asks a TSA to stamp a SHA-256 digest and checks that the reply answers this very request: granted,
 * our digest, our nonce. The token's signature is not judged here (see verifyTimestampToken).
 */
export async function requestTimestamp(
  url: string,
  digest: Buffer,
  opts: { timeoutMs?: number; fetchImpl?: typeof fetch } = {},
): Promise<TimestampReceipt> {
  assertSha256(digest);
  const where = publicUrl(url);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fetchImpl = opts.fetchImpl ?? fetch;
  const nonce = newNonce();
  let body: Buffer;
  try {
    const response = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
      body: buildTimestampQuery(digest, nonce),
      // A redirect could hand the query to anyone; a TSA is configured by its exact URL.
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status !== 200) throw new TimestampError(`TSA ${where} answered HTTP ${response.status}`);
    const type = (response.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/timestamp-reply') {
      throw new TimestampError(`TSA ${where} answered with ${type || 'no content type'}, not application/timestamp-reply`);
    }
    body = await readReply(response, where);
  } catch (err) {
    if (err instanceof TimestampError) throw err;
    // Read by name, not instanceof: fetch's DOMException may come from another realm (jest, a fetchImpl).
    const failure = err as { name?: unknown; cause?: { code?: unknown } } | null;
    const name = String(failure?.name ?? '');
    if (name === 'TimeoutError' || name === 'AbortError') throw new TimestampError(`TSA ${where} did not answer within ${timeoutMs} ms`);
    // The network error code only: messages of some fetch errors repeat the URL, which may hold credentials.
    throw new TimestampError(`TSA ${where} could not be reached (${String(failure?.cause?.code ?? name) || 'network error'})`);
  }

  const reply = asn1js.fromBER(toArrayBuffer(body));
  if (reply.offset === -1 || reply.offset !== body.length) throw new TimestampError(`TSA ${where} sent a reply that is not one DER TimeStampResp`);
  const response = parse(`the reply of TSA ${where}`, () => new pkijs.TimeStampResp({ schema: reply.result }));
  const status = response.status.status;
  if (status !== PKI_STATUS.granted && status !== PKI_STATUS.grantedWithMods) {
    throw new TimestampError(`TSA ${where} refused to stamp: ${describeStatus(response.status)}`);
  }
  if (!response.timeStampToken) throw new TimestampError(`TSA ${where} granted the request but sent no token`);
  // The token exactly as received: re-encoding a parsed structure could alter bytes a signature covers.
  const tokenBlock = (reply.result as asn1js.Sequence).valueBlock.value[1];
  const token = Buffer.from(tokenBlock.valueBeforeDecodeView);
  const { tstInfo } = openToken(token);
  assertImprint(tstInfo, digest);
  if (!tstInfo.nonce || tstInfo.nonce.toBigInt() !== nonce) {
    throw new TimestampError(`TSA ${where} answered with ${tstInfo.nonce ? 'a different nonce' : 'no nonce'}: the reply is not for this request`);
  }
  return {
    url: where,
    token: token.toString('base64'),
    genTime: tstInfo.genTime.toISOString(),
    serialNumber: hexOfInteger(tstInfo.serialNumber),
    digest: digest.toString('hex'),
  };
}
