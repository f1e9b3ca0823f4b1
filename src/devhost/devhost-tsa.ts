/**
 * A stand-in RFC 3161 Time-Stamp Authority for development and tests, mounted by the devhost at /devhost/tsa:
 *   POST /devhost/tsa           application/timestamp-query → application/timestamp-reply (RFC 3161 §3.4)
 *   GET  /devhost/tsa/cert.pem  its self-signed TSA certificate, to configure as the trusted one
 *
 * It behaves as a real TSA does: TSTInfo version 1 under its own policy, random unique serials, genTime
 * from the injected clock, the nonce echoed, its certificate included when asked for, an ESSCertIDv2
 * signing-certificate-v2 attribute, and every bad request answered with a rejection status (HTTP 200),
 * never an error page. Its ECDSA P-256 key and certificate persist in <dir>/tsa.json, mode 0600.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as asn1js from 'asn1js';
import express from 'express';
import * as pkijs from 'pkijs';
import { systemClock, type Clock } from '../lib/clock';
import { algorithm, derOf, DIGESTS, failureBits, type FailureReason, OID, PKI_STATUS, toArrayBuffer } from '../audit/witness/timestamp-asn1';

/** A private arc for the devhost; a real TSA states its own policy OID. */
export const DEVHOST_TSA_POLICY = '1.3.6.1.4.1.99999.1';

const STATE_FILE = 'tsa.json';
const STATE_FORMAT = 1;
const CERT_VALIDITY_YEARS = 10;

interface TsaState {
  format: number;
  privateKeyPem: string;
  certificatePem: string;
}

export interface DevhostTsa {
  router: express.Router;
  certificatePem: string;
  /** The DER of the certificate, hex SHA-256 (what verifyTimestampToken reports as tsaCertFingerprint). */
  certificateFingerprint: string;
}

function pemOf(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** ASN.1 times carry whole seconds here: DER forbids trailing zeros in fractions, and a second is our accuracy. */
function wholeSeconds(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 1000) * 1000);
}

/** A positive serial of 127 random bits: unique without keeping a counter, as many real TSAs do. */
function randomSerial(): asn1js.Integer {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return asn1js.Integer.fromBigInt(BigInt(`0x${bytes.toString('hex')}`) || 1n);
}

function ecdsaSign(key: KeyObject, data: Uint8Array): ArrayBuffer {
  return toArrayBuffer(sign('sha256', data, { key, dsaEncoding: 'der' }));
}

function createCertificate(privateKey: KeyObject, now: Date): Buffer {
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = randomSerial();
  for (const names of [cert.subject, cert.issuer]) {
    names.typesAndValues.push(
      new pkijs.AttributeTypeAndValue({ type: OID.organization, value: new asn1js.Utf8String({ value: 'Attest devhost' }) }),
      new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: 'Attest devhost TSA' }) }),
    );
  }
  // A day of slack so a clock set slightly behind the one that made the certificate still stamps inside it.
  const notBefore = wholeSeconds(new Date(now.getTime() - 24 * 3600 * 1000));
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERT_VALIDITY_YEARS);
  cert.notBefore.value = notBefore;
  cert.notAfter.value = notAfter;
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(toArrayBuffer(spki));
  const keyId = createHash('sha1').update(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
  // digitalSignature only: the key signs timestamps, never other certificates.
  const keyUsage = new asn1js.BitString({ valueHex: toArrayBuffer(new Uint8Array([0x80])), unusedBits: 7 });
  cert.extensions = [
    new pkijs.Extension({ extnID: OID.basicConstraints, critical: true, extnValue: toArrayBuffer(derOf(new pkijs.BasicConstraints({ cA: false }).toSchema())) }),
    new pkijs.Extension({ extnID: OID.keyUsage, critical: true, extnValue: toArrayBuffer(derOf(keyUsage)) }),
    // RFC 3161 §2.3: exactly id-kp-timeStamping, critical.
    new pkijs.Extension({ extnID: OID.extKeyUsage, critical: true, extnValue: toArrayBuffer(derOf(new pkijs.ExtKeyUsage({ keyPurposes: [OID.timeStamping] }).toSchema())) }),
    new pkijs.Extension({ extnID: OID.subjectKeyIdentifier, critical: false, extnValue: toArrayBuffer(derOf(new asn1js.OctetString({ valueHex: toArrayBuffer(keyId) }))) }),
  ];
  cert.signature = algorithm(OID.ecdsaWithSha256);
  cert.signatureAlgorithm = algorithm(OID.ecdsaWithSha256);
  cert.tbsView = new Uint8Array(cert.encodeTBS().toBER(false));
  cert.signatureValue = new asn1js.BitString({ valueHex: ecdsaSign(privateKey, cert.tbsView) });
  return derOf(cert.toSchema(false));
}

/** The key and certificate are made once; a new certificate would orphan every token already issued. */
function loadOrCreateState(dir: string, now: Date): TsaState {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, STATE_FILE);
  if (fs.existsSync(file)) {
    let state: TsaState;
    try {
      state = JSON.parse(fs.readFileSync(file, 'utf8')) as TsaState;
    } catch {
      // JSON.parse quotes the text it fails on, which here is a private key.
      throw new Error(`${file} is not a devhost TSA state file`);
    }
    if (state.format === STATE_FORMAT) return state;
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const state: TsaState = {
    format: STATE_FORMAT,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificatePem: pemOf(createCertificate(privateKey, now)),
  };
  // Through a temporary file so a crash never leaves half a key file.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return state;
}

function timestampResp(status: pkijs.PKIStatusInfo, token?: pkijs.ContentInfo): Buffer {
  return derOf(new pkijs.TimeStampResp({ status, ...(token ? { timeStampToken: token } : {}) }).toSchema());
}

function rejection(reason: FailureReason, text: string): Buffer {
  return timestampResp(
    new pkijs.PKIStatusInfo({
      status: PKI_STATUS.rejection,
      statusStrings: [new asn1js.Utf8String({ value: text })],
      failInfo: failureBits(reason),
    }),
  );
}

/** DER orders a SET OF by the encodings of its elements, shorter ones padded with zeros (X.690 §11.6). */
function derSetOrder(a: Buffer, b: Buffer): number {
  const length = Math.max(a.length, b.length);
  return Buffer.compare(Buffer.concat([a, Buffer.alloc(length - a.length)]), Buffer.concat([b, Buffer.alloc(length - b.length)]));
}

class Rejected extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
  }
}

export function createDevhostTsa(opts: { dir: string; clock?: Clock }): DevhostTsa {
  const clock = opts.clock ?? systemClock;
  const state = loadOrCreateState(opts.dir, clock.now());
  const privateKey = createPrivateKey(state.privateKeyPem);
  const certDer = new X509Certificate(state.certificatePem).raw;
  const cert = pkijs.Certificate.fromBER(toArrayBuffer(certDer));
  const certificateFingerprint = createHash('sha256').update(certDer).digest('hex');

  function parseRequest(body: Buffer): pkijs.TimeStampReq {
    let request: pkijs.TimeStampReq;
    try {
      request = pkijs.TimeStampReq.fromBER(toArrayBuffer(body));
    } catch {
      throw new Rejected('badDataFormat', 'the request is not a DER TimeStampReq');
    }
    if (request.version !== 1) throw new Rejected('badRequest', `TimeStampReq version ${request.version} is not supported`);
    const imprint = request.messageImprint;
    const digest = DIGESTS[imprint.hashAlgorithm.algorithmId];
    if (!digest) throw new Rejected('badAlg', `hash algorithm ${imprint.hashAlgorithm.algorithmId} is not accepted`);
    if (imprint.hashedMessage.valueBlock.valueHexView.byteLength !== digest.length) {
      throw new Rejected('badDataFormat', `the ${digest.name} imprint must be ${digest.length} bytes`);
    }
    if (request.reqPolicy !== undefined && request.reqPolicy !== DEVHOST_TSA_POLICY) {
      throw new Rejected('unacceptedPolicy', `policy ${request.reqPolicy} is not offered; this TSA stamps under ${DEVHOST_TSA_POLICY}`);
    }
    if (request.extensions?.length) throw new Rejected('unacceptedExtension', 'this TSA accepts no request extensions');
    return request;
  }

  function stamp(request: pkijs.TimeStampReq): Buffer {
    const tstInfo = new pkijs.TSTInfo({
      version: 1,
      policy: DEVHOST_TSA_POLICY,
      messageImprint: request.messageImprint,
      serialNumber: randomSerial(),
      genTime: wholeSeconds(clock.now()),
      accuracy: new pkijs.Accuracy({ seconds: 1 }),
      ...(request.nonce ? { nonce: request.nonce } : {}),
    });
    const eContent = derOf(tstInfo.toSchema());

    const signingCertificateV2 = new asn1js.Sequence({
      value: [
        // certs: one ESSCertIDv2 whose hashAlgorithm is the DEFAULT sha256, hence omitted in DER.
        new asn1js.Sequence({
          value: [new asn1js.Sequence({ value: [new asn1js.OctetString({ valueHex: toArrayBuffer(createHash('sha256').update(certDer).digest()) })] })],
        }),
      ],
    });
    const attributes = [
      new pkijs.Attribute({ type: OID.contentType, values: [new asn1js.ObjectIdentifier({ value: OID.tstInfo })] }),
      new pkijs.Attribute({ type: OID.messageDigest, values: [new asn1js.OctetString({ valueHex: toArrayBuffer(createHash('sha256').update(eContent).digest()) })] }),
      new pkijs.Attribute({ type: OID.signingCertificateV2, values: [signingCertificateV2] }),
    ]
      .map((attribute) => ({ attribute, der: derOf(attribute.toSchema()) }))
      .sort((a, b) => derSetOrder(a.der, b.der))
      .map(({ attribute }) => attribute);
    // The signature covers the attributes encoded as a SET (RFC 5652 §5.4), not as the [0] they travel in.
    const signedAttrsDer = derOf(new asn1js.Set({ value: attributes.map((a) => a.toSchema()) }));

    const signerInfo = new pkijs.SignerInfo({
      version: 1,
      sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
      digestAlgorithm: algorithm(OID.sha256),
      signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes }),
      signatureAlgorithm: algorithm(OID.ecdsaWithSha256),
      signature: new asn1js.OctetString({ valueHex: ecdsaSign(privateKey, signedAttrsDer) }),
    });
    // eContent is set after construction: pkijs' constructor would split it into a constructed (BER-only) string.
    const encapContentInfo = new pkijs.EncapsulatedContentInfo({ eContentType: OID.tstInfo });
    encapContentInfo.eContent = new asn1js.OctetString({ valueHex: toArrayBuffer(eContent) });
    const signedData = new pkijs.SignedData({
      version: 3,
      digestAlgorithms: [algorithm(OID.sha256)],
      encapContentInfo,
      signerInfos: [signerInfo],
      ...(request.certReq ? { certificates: [cert] } : {}),
    });
    const token = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema(true) });
    return timestampResp(new pkijs.PKIStatusInfo({ status: PKI_STATUS.granted }), token);
  }

  function answer(body: unknown): Buffer {
    if (!Buffer.isBuffer(body) || body.length === 0) return rejection('badDataFormat', 'expected a body of type application/timestamp-query');
    try {
      return stamp(parseRequest(body));
    } catch (err) {
      if (err instanceof Rejected) return rejection(err.reason, err.message);
      return rejection('systemFailure', 'the time-stamp could not be issued');
    }
  }

  const router = express.Router();
  router.get('/cert.pem', (_req, res) => {
    res.type('application/x-pem-file').send(state.certificatePem);
  });
  router.post('/', express.raw({ type: 'application/timestamp-query', limit: '16kb' }), (req, res) => {
    res.type('application/timestamp-reply').send(answer(req.body));
  });
  // Body-parser failures (too large, bad encoding) are bad requests too: RFC 3161 answers them with a status.
  router.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (res.headersSent) return next(err);
    const tooLarge = (err as { type?: string } | null)?.type === 'entity.too.large';
    res.type('application/timestamp-reply').send(rejection('badDataFormat', tooLarge ? 'the request is larger than 16 kB' : 'the request body could not be read'));
  });

  return { router, certificatePem: state.certificatePem, certificateFingerprint };
}
