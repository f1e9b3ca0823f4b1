import http from 'node:http';
import https from 'node:https';
import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl, SymmetricAlgorithm } from 'atlassian-jwt';
import { UpstreamError } from '../lib/errors';
import type { TenantLookup } from './lean-page-jwt';

export type Method = 'get' | 'post' | 'put';

export interface HttpResult {
  status: number;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** ACE's default (`jwt.validityInMinutes`): the token lives three minutes. */
const TOKEN_VALIDITY_S = 3 * 60;
/** A call Confluence has not answered in this long is given up (ACE sets none; a hung socket would hold a request forever). */
const TIMEOUT_MS = 30_000;
/** Bodies larger than this are refused: Attest reads pages, users and small lists, never megabytes of JSON. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** How the Confluence client reaches a tenant's Confluence: one app-signed call, any status answered. */
export interface ConfluenceTransport {
  call(clientKey: string, method: Method, relativeUrl: string, body?: unknown): Promise<HttpResult>;
}

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

/**
 * App-signed calls to a tenant's Confluence (as the app, never as a user), with what ACE's `httpClient`
 * does for them and without what it costs (`request`, urijs, moment, a store read per call): the URL is
 * relative to the tenant's base URL (which ends in /wiki); the JWT is HS256 with the installation's shared
 * secret, `iss` the app key, `aud` the tenant's clientKey, `iat`, `exp` three minutes later, and the `qsh` of
 * the method, the path below the base URL and the query (Atlassian, "Understanding JWT for Connect apps";
 * ../shared/CONNECT.md "JWT"; ACE 11's host-request.js does the same). Keep-alive sockets per protocol; no
 * redirects followed: a 3xx is an answer like any other (the endpoints in docs/confluence-api.md answer in place;
 * ACE follows same-protocol redirects, which we have no source saying Confluence sends).
 *
 * The tenant's secret comes from `tenants` (the cache invalidated by every change to the tenants table); an
 * unknown tenant is refused before anything is sent. Errors on the way are UpstreamErrors (a 502), except
 * the tenant lookup's own, which propagate (the database away is a 503).
 */
export class SignedHttp implements ConfluenceTransport {
  constructor(
    private readonly appKey: string,
    private readonly tenants: TenantLookup,
    private readonly userAgent: string,
    private readonly opts: { now?: () => number; timeoutMs?: number } = {},
  ) {}

  async call(clientKey: string, method: Method, relativeUrl: string, body?: unknown): Promise<HttpResult> {
    const tenant = await this.tenants(clientKey);
    if (!tenant) throw new UpstreamError(`There is no installation "${clientKey}" to call Confluence for`);
    const url = new URL(tenant.baseUrl.replace(/\/$/, '') + relativeUrl);
    const iat = Math.floor((this.opts.now ?? Date.now)() / 1000);
    const token = encodeSymmetric(
      { iss: this.appKey, iat, exp: iat + TOKEN_VALIDITY_S, qsh: createQueryStringHash(fromMethodAndUrl(method, relativeUrl)), aud: [clientKey] },
      tenant.sharedSecret,
      SymmetricAlgorithm.HS256,
    );
    const payload = body === undefined || method === 'get' ? undefined : Buffer.from(JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = { Accept: 'application/json', 'User-Agent': this.userAgent, Authorization: `JWT ${token}` };
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const timeoutMs = this.opts.timeoutMs ?? TIMEOUT_MS;
    return send(url, method, headers, payload, timeoutMs).catch((err: unknown) => {
      // A kept-alive connection the server closed as this request went out (idle too long on its side): the
      // request never reached it. A GET is asked once more, on a new connection (Node's http docs, "reusedSocket").
      if (method === 'get' && err instanceof StaleSocketError) return send(url, method, headers, payload, timeoutMs);
      throw err;
    });
  }
}

/** The request failed on a kept-alive connection before any answer: the server had closed it. */
class StaleSocketError extends UpstreamError {}

function send(url: URL, method: Method, headers: http.OutgoingHttpHeaders, payload: Buffer | undefined, timeoutMs: number): Promise<HttpResult> {
  const agent = agents[url.protocol as keyof typeof agents];
  if (!agent) return Promise.reject(new UpstreamError(`Confluence's base URL must be http or https, not ${url.protocol}`));
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method: method.toUpperCase(), headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('error', (err) => reject(new UpstreamError(`Confluence could not be reached: ${err.message}`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: parseBody(text), headers: res.headers });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      reject(new (stale ? StaleSocketError : UpstreamError)(`Confluence could not be reached: ${err.message}`));
    });
    req.end(payload);
  });
}

/** JSON when it parses, the text otherwise, undefined when empty: what `request` with `json: true` gives. */
function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
