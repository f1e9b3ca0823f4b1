import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as asn1js from 'asn1js';
import express from 'express';
import * as pkijs from 'pkijs';
import { ManualClock } from '../../lib/clock';
import { createDevhostTsa, DEVHOST_TSA_POLICY, type DevhostTsa } from '../../devhost/devhost-tsa';
import { TimestampError, verifyTimestampToken } from './timestamp';
import { buildTimestampQuery, requestTimestamp } from './timestamp-request';
import { failureNames, OID, toArrayBuffer } from './timestamp-asn1';

/**
 * The witness against a real HTTP TSA on loopback (the devhost stand-in), and openssl as an independent
 * judge of the DER both ways: openssl verifies our TSA's replies, and our verifier accepts openssl's tokens.
 */

const OPENSSL = '/usr/bin/openssl';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function openssl(args: string[], cwd: string): string {
  return execFileSync(OPENSSL, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
}

interface Listening {
  url: string;
  close(): Promise<void>;
}

async function listen(app: express.Express): Promise<Listening> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseReply(body: Buffer): pkijs.TimeStampResp {
  return pkijs.TimeStampResp.fromBER(toArrayBuffer(body));
}

async function post(url: string, body: Buffer, contentType = 'application/timestamp-query'): Promise<{ status: number; type: string | null; body: Buffer }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: response.status, type: response.headers.get('content-type'), body: Buffer.from(await response.arrayBuffer()) };
}

let dir: string;
let clock: ManualClock;
let tsa: DevhostTsa;
let otherTsa: DevhostTsa;
let server: Listening;
let tsaUrl: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-tsa-'));
  clock = new ManualClock('2026-03-04T05:06:07.890Z');
  tsa = createDevhostTsa({ dir: path.join(dir, 'tsa'), clock });
  otherTsa = createDevhostTsa({ dir: path.join(dir, 'other-tsa'), clock });
  const app = express();
  app.use('/devhost/tsa', tsa.router);
  app.use('/other/tsa', otherTsa.router);
  // A TSA that takes the request and never answers.
  app.post('/silent/tsa', () => undefined);
  server = await listen(app);
  tsaUrl = `${server.url}/devhost/tsa`;
});

afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('requestTimestamp and verifyTimestampToken against the devhost TSA', () => {
  it('stamps a digest at the clock time, and the token verifies on its own against the TSA certificate', async () => {
    const digest = sha256('checkpoint 1');
    const receipt = await requestTimestamp(`${tsaUrl}?apiKey=not-in-receipts`, digest);
    expect(receipt.url).toBe(tsaUrl);
    expect(receipt.digest).toBe(digest.toString('hex'));
    expect(receipt.genTime).toBe('2026-03-04T05:06:07.000Z');
    expect(receipt.serialNumber).toMatch(/^[0-9a-f]+$/);

    const certPem = await (await fetch(`${tsaUrl}/cert.pem`)).text();
    expect(certPem).toBe(tsa.certificatePem);
    const verified = verifyTimestampToken(receipt.token, digest, [certPem]);
    expect(verified).toEqual({
      genTime: new Date('2026-03-04T05:06:07.000Z'),
      serialNumber: receipt.serialNumber,
      tsaCertFingerprint: tsa.certificateFingerprint,
    });
  });

  it('gives every token its own serial number', async () => {
    const digest = sha256('same digest');
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) serials.add((await requestTimestamp(tsaUrl, digest)).serialNumber);
    expect(serials.size).toBe(5);
  });

  it('refuses a token for another digest', async () => {
    const receipt = await requestTimestamp(tsaUrl, sha256('checkpoint 2'));
    expect(() => verifyTimestampToken(receipt.token, sha256('checkpoint 3'), [tsa.certificatePem])).toThrow(
      new TimestampError('the token stamps a different digest'),
    );
  });

  it('refuses a token whose TSA certificate is not a trusted one', async () => {
    const digest = sha256('checkpoint 4');
    const receipt = await requestTimestamp(`${server.url}/other/tsa`, digest);
    expect(verifyTimestampToken(receipt.token, digest, [otherTsa.certificatePem]).tsaCertFingerprint).toBe(otherTsa.certificateFingerprint);
    expect(() => verifyTimestampToken(receipt.token, digest, [tsa.certificatePem])).toThrow(
      /^the token is signed by a certificate that is not a trusted TSA certificate \(SHA-256 [0-9a-f]{64}\)$/,
    );
  });

  it('refuses a token whose TSTInfo or signature was altered', async () => {
    const digest = sha256('checkpoint 5');
    const receipt = await requestTimestamp(tsaUrl, digest);
    const token = Buffer.from(receipt.token, 'base64');

    const serialHex = receipt.serialNumber.length % 2 ? `0${receipt.serialNumber}` : receipt.serialNumber;
    const serialAt = token.indexOf(Buffer.from(serialHex, 'hex'));
    expect(serialAt).toBeGreaterThan(0);
    const otherSerial = Buffer.from(token);
    otherSerial[serialAt + serialHex.length / 2 - 1] ^= 0x01;
    expect(() => verifyTimestampToken(otherSerial.toString('base64'), digest, [tsa.certificatePem])).toThrow(
      'the token\'s TSTInfo was altered after signing (message digest mismatch)',
    );

    // The signature is the last field of the token (the certificate precedes the SignerInfo).
    const otherSignature = Buffer.from(token);
    otherSignature[otherSignature.length - 1] ^= 0x01;
    expect(() => verifyTimestampToken(otherSignature.toString('base64'), digest, [tsa.certificatePem])).toThrow(
      'the token\'s signature does not verify with the TSA certificate',
    );

    expect(() => verifyTimestampToken(token.subarray(0, 40).toString('base64'), digest, [tsa.certificatePem])).toThrow(
      'the timestamp token is not well-formed DER',
    );
  });

  it('reports a rejection status with the TSA\'s reason', async () => {
    // A relay that damages the query in transit: the real TSA must answer with a rejection, not an error page.
    const damaging: typeof fetch = (input, init) => fetch(input, { ...init, body: (init?.body as Buffer).subarray(0, 10) });
    await expect(requestTimestamp(tsaUrl, sha256('checkpoint 6'), { fetchImpl: damaging })).rejects.toThrow(
      new TimestampError(`TSA ${tsaUrl} refused to stamp: rejection (badDataFormat): "the request is not a DER TimeStampReq"`),
    );
  });

  it('refuses a reply that carries another nonce than the request', async () => {
    const digest = sha256('checkpoint 7');
    // A fake TSA front that replays a request made with a different nonce (as a stale or misrouted reply would).
    const replaying: typeof fetch = (input, init) => fetch(input, { ...init, body: buildTimestampQuery(digest, 7n) });
    await expect(requestTimestamp(tsaUrl, digest, { fetchImpl: replaying })).rejects.toThrow(
      new TimestampError(`TSA ${tsaUrl} answered with a different nonce: the reply is not for this request`),
    );
  });

  it('refuses a reply that stamps another digest than the one asked for', async () => {
    const swapping: typeof fetch = (input, init) => fetch(input, { ...init, body: buildTimestampQuery(sha256('something else'), 7n) });
    await expect(requestTimestamp(tsaUrl, sha256('checkpoint 8'), { fetchImpl: swapping })).rejects.toThrow(
      new TimestampError('the token stamps a different digest'),
    );
  });

  it('gives up on a TSA that does not answer within the timeout', async () => {
    const started = Date.now();
    await expect(requestTimestamp(`${server.url}/silent/tsa`, sha256('checkpoint 9'), { timeoutMs: 200 })).rejects.toThrow(
      new TimestampError(`TSA ${server.url}/silent/tsa did not answer within 200 ms`),
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('says a TSA cannot be reached without repeating the key in its URL', async () => {
    const closed = await listen(express());
    await closed.close();
    const failure = await requestTimestamp(`${closed.url}/tsa?key=hunter2`, sha256('checkpoint 10')).catch((err: unknown) => err);
    expect(failure).toEqual(new TimestampError(`TSA ${closed.url}/tsa could not be reached (ECONNREFUSED)`));
    await expect(requestTimestamp('http://user:hunter2@127.0.0.1:1/tsa', sha256('checkpoint 10'))).rejects.toThrow(
      new TimestampError('the TSA URL must not contain credentials (fetch refuses to send them)'),
    );
  });

  it('refuses a digest that is not a SHA-256 before sending anything', () => {
    expect(() => buildTimestampQuery(Buffer.alloc(20))).toThrow('the digest to stamp must be a 32-byte SHA-256, got 20 bytes');
  });
});

describe('the devhost TSA', () => {
  function queryWith(edit: (request: pkijs.TimeStampReq) => void): Buffer {
    const request = pkijs.TimeStampReq.fromBER(toArrayBuffer(buildTimestampQuery(sha256('x'), 1n)));
    edit(request);
    return Buffer.from(request.toSchema().toBER(false));
  }

  it.each([
    ['a body that is not a query', () => Buffer.from('hello'), 'application/timestamp-query', 'badDataFormat'],
    ['another content type', () => buildTimestampQuery(sha256('x')), 'application/octet-stream', 'badDataFormat'],
    ['a body over 16 kB', () => Buffer.alloc(17 * 1024, 0x30), 'application/timestamp-query', 'badDataFormat'],
    [
      'a SHA-1 imprint',
      () => queryWith((r) => (r.messageImprint = new pkijs.MessageImprint({ hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha1 }), hashedMessage: new asn1js.OctetString({ valueHex: new ArrayBuffer(20) }) }))),
      'application/timestamp-query',
      'badAlg',
    ],
    ['another policy', () => queryWith((r) => (r.reqPolicy = '1.2.3.4')), 'application/timestamp-query', 'unacceptedPolicy'],
  ])('answers %s with a rejection status, never an HTTP error', async (_name, body, contentType, failure) => {
    const reply = await post(tsaUrl, body(), contentType);
    expect(reply.status).toBe(200);
    expect(reply.type).toMatch(/^application\/timestamp-reply/);
    const parsed = parseReply(reply.body);
    expect(parsed.status.status).toBe(2);
    expect(failureNames(parsed.status.failInfo)).toEqual([failure]);
    expect(parsed.timeStampToken).toBeUndefined();
  });

  it('stamps under its policy, echoes the nonce, and includes its certificate only when asked', async () => {
    const withCert = parseReply((await post(tsaUrl, buildTimestampQuery(sha256('y'), 123456789n))).body);
    const withoutCert = parseReply((await post(tsaUrl, queryWith((r) => (r.certReq = false)))).body);
    const tstOf = (resp: pkijs.TimeStampResp) => {
      const signed = new pkijs.SignedData({ schema: resp.timeStampToken!.content });
      return { signed, tst: pkijs.TSTInfo.fromBER(signed.encapContentInfo.eContent!.getValue()) };
    };
    expect(tstOf(withCert).tst.policy).toBe(DEVHOST_TSA_POLICY);
    expect(tstOf(withCert).tst.nonce?.toBigInt()).toBe(123456789n);
    expect(tstOf(withCert).signed.certificates).toHaveLength(1);
    expect(tstOf(withoutCert).signed.certificates ?? []).toHaveLength(0);
    // Without the embedded certificate the pinned one still identifies the signer.
    const token = Buffer.from(withoutCert.timeStampToken!.toSchema().toBER(false)).toString('base64');
    expect(verifyTimestampToken(token, sha256('x'), [tsa.certificatePem]).tsaCertFingerprint).toBe(tsa.certificateFingerprint);
  });

  it('keeps its key and certificate across restarts, readable only by its owner', () => {
    const again = createDevhostTsa({ dir: path.join(dir, 'tsa'), clock });
    expect(again.certificatePem).toBe(tsa.certificatePem);
    expect(fs.statSync(path.join(dir, 'tsa', 'tsa.json')).mode & 0o777).toBe(0o600);
  });
});

describe('openssl as an independent judge of the DER', () => {
  let work: string;
  beforeAll(() => {
    // Required, not optional: without it this suite would prove nothing about interoperability.
    if (!fs.existsSync(OPENSSL)) throw new Error(`${OPENSSL} is needed for the independent RFC 3161 check`);
    work = fs.mkdtempSync(path.join(dir, 'openssl-'));
  });

  it('verifies the devhost TSA\'s reply against its certificate, and refuses it for another digest', async () => {
    const digest = sha256('checkpoint for openssl');
    const query = buildTimestampQuery(digest, 987654321n);
    const reply = await post(tsaUrl, query);
    fs.writeFileSync(path.join(work, 'query.tsq'), query);
    fs.writeFileSync(path.join(work, 'reply.tsr'), reply.body);
    fs.writeFileSync(path.join(work, 'cert.pem'), tsa.certificatePem);

    const text = openssl(['ts', '-reply', '-in', 'reply.tsr', '-text'], work);
    expect(text).toContain('Status: Granted.');
    expect(text).toContain(`Policy OID: ${DEVHOST_TSA_POLICY}`);
    expect(text).toContain('Nonce: 0x3ADE68B1');
    expect(text).toContain('Time stamp: Mar  4 05:06:07 2026 GMT');

    // The self-signed TSA certificate is its own trust anchor: -CAfile suffices, no -partial_chain needed.
    expect(openssl(['ts', '-verify', '-digest', digest.toString('hex'), '-in', 'reply.tsr', '-CAfile', 'cert.pem'], work)).toContain('Verification: OK');
    // -queryfile also checks the nonce and policy match the request.
    expect(openssl(['ts', '-verify', '-queryfile', 'query.tsq', '-in', 'reply.tsr', '-CAfile', 'cert.pem'], work)).toContain('Verification: OK');

    const wrong = sha256('not this checkpoint').toString('hex');
    expect(() => openssl(['ts', '-verify', '-digest', wrong, '-in', 'reply.tsr', '-CAfile', 'cert.pem'], work)).toThrow(/message imprint mismatch/);
  });

  it('shows a rejection as openssl reads it', async () => {
    fs.writeFileSync(path.join(work, 'rejected.tsr'), (await post(tsaUrl, Buffer.from('nonsense'))).body);
    const text = openssl(['ts', '-reply', '-in', 'rejected.tsr', '-text'], work);
    expect(text).toContain('Status: Rejected.');
    expect(text).toContain('Failure info: the data submitted has the wrong format');
  });

  it('accepts a token issued by openssl\'s own TSA (RSA, its own attribute layout)', () => {
    fs.writeFileSync(path.join(work, 'serial'), '01\n');
    fs.writeFileSync(
      path.join(work, 'tsa.cnf'),
      [
        '[ tsa ]',
        'default_tsa = tsa_config',
        '[ tsa_config ]',
        `serial = ${path.join(work, 'serial')}`,
        `signer_cert = ${path.join(work, 'ossl-cert.pem')}`,
        `signer_key = ${path.join(work, 'ossl-key.pem')}`,
        'signer_digest = sha256',
        'default_policy = 1.3.6.1.4.1.99999.2',
        'digests = sha256',
        'accuracy = secs:1',
        'ess_cert_id_alg = sha256',
        '',
      ].join('\n'),
    );
    openssl(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ossl-key.pem', '-out', 'ossl-cert.pem', '-days', '2', '-subj', '/CN=openssl test TSA',
        '-addext', 'extendedKeyUsage=critical,timeStamping', '-addext', 'keyUsage=critical,digitalSignature'],
      work,
    );
    const digest = sha256('checkpoint stamped by openssl');
    openssl(['ts', '-query', '-digest', digest.toString('hex'), '-sha256', '-cert', '-out', 'ossl.tsq'], work);
    openssl(['ts', '-reply', '-config', 'tsa.cnf', '-queryfile', 'ossl.tsq', '-token_out', '-out', 'ossl.tst'], work);
    const token = fs.readFileSync(path.join(work, 'ossl.tst')).toString('base64');
    const opensslCert = fs.readFileSync(path.join(work, 'ossl-cert.pem'), 'utf8');

    const verified = verifyTimestampToken(token, digest, [opensslCert]);
    // openssl advances its serial file before issuing, so its first token is serial 2.
    expect(verified.serialNumber).toBe('2');
    expect(Math.abs(verified.genTime.getTime() - Date.now())).toBeLessThan(60_000);
    expect(() => verifyTimestampToken(token, digest, [tsa.certificatePem])).toThrow(/not a trusted TSA certificate/);
  });
});
