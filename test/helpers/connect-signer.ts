import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jwt from 'atlassian-jwt';

/**
 * An independent Confluence for protocol tests: its own RSA key served from its own key server,
 * signing installs and page JWTs with Atlassian's atlassian-jwt (not with the devhost's code).
 */
export class ConnectSigner {
  readonly kid = randomUUID();
  readonly keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  private server?: http.Server;
  keyServerUrl = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      if (req.url === `/${this.kid}`) res.writeHead(200, { 'content-type': 'text/plain' }).end(this.keys.publicKey);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.keyServerUrl = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  installToken(opts: { path: string; addonBaseUrl: string; clientKey: string; aud?: string; kid?: string; privateKey?: string; expSeconds?: number }): string {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: opts.clientKey,
      aud: [opts.aud ?? opts.addonBaseUrl],
      iat: now,
      exp: now + (opts.expSeconds ?? 180),
      qsh: jwt.createQueryStringHash(jwt.fromMethodAndUrl('POST', opts.path), false, opts.addonBaseUrl),
    };
    return jwt.encodeAsymmetric(claims, opts.privateKey ?? this.keys.privateKey, jwt.AsymmetricAlgorithm.RS256, {
      kid: opts.kid ?? this.kid,
    });
  }
}

export function installPayload(clientKey: string, baseUrl: string, addonKey = 'io.attest.confluence') {
  return {
    key: addonKey,
    clientKey,
    sharedSecret: randomBytes(24).toString('base64url'),
    baseUrl,
    displayUrl: baseUrl,
    productType: 'confluence',
    description: 'test site',
    serverVersion: '6452',
    pluginsVersion: '1001.0.0',
    eventType: 'installed',
  };
}

/** A page JWT for `GET url` (absolute add-on URL, without jwt), as Confluence signs iframe URLs. */
export function pageToken(opts: {
  url: string;
  addonBaseUrl: string;
  clientKey: string;
  secret: string;
  accountId: string;
  method?: string;
  expSeconds?: number;
  qsh?: string;
  noExp?: boolean;
}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: opts.clientKey,
    sub: opts.accountId,
    iat: now,
    qsh: opts.qsh ?? jwt.createQueryStringHash(jwt.fromMethodAndUrl(opts.method ?? 'GET', opts.url), false, opts.addonBaseUrl),
    context: { user: { accountId: opts.accountId } },
  };
  if (!opts.noExp) claims.exp = now + (opts.expSeconds ?? 180);
  return jwt.encodeSymmetric(claims, opts.secret, jwt.SymmetricAlgorithm.HS256);
}

/** A context JWT as AP.context.getToken() returns it. */
export function contextToken(opts: { clientKey: string; secret: string; accountId: string; context?: object; expSeconds?: number }): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.encodeSymmetric(
    {
      iss: opts.clientKey,
      sub: opts.accountId,
      iat: now,
      exp: now + (opts.expSeconds ?? 180),
      qsh: 'context-qsh',
      context: { user: { accountId: opts.accountId }, ...(opts.context ?? {}) },
    },
    opts.secret,
    jwt.SymmetricAlgorithm.HS256,
  );
}

/** `alg: none` — must never be accepted. */
export function unsignedToken(claims: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}
