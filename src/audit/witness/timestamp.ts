/**
 * RFC 3161 timestamps as witnesses of checkpoints: a Time-Stamp Authority outside our database signs
 * "this SHA-256 existed no later than genTime", so a checkpoint cannot be backdated past its token.
 *
 * This module verifies tokens (the offline verifier needs nothing else); timestamp-request.ts asks a TSA for one.
 * pkijs/asn1js encode and parse; signatures are checked with node:crypto so that verification is
 * synchronous (pkijs' own verify goes through WebCrypto and is async only).
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { algorithm, derOf, DIGESTS, OID, toArrayBuffer } from './timestamp-asn1';

/** A timestamp was refused, could not be obtained, or does not verify; the message says why in plain words. */
export class TimestampError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimestampError';
  }
}

export interface TimestampReceipt {
  /** The TSA that issued the token: origin and path only, never credentials or a query string. */
  url: string;
  /** base64 of the DER TimeStampToken (a CMS ContentInfo holding SignedData), exactly as the TSA sent it. */
  token: string;
  /** ISO-8601 UTC. */
  genTime: string;
  /** The TSA's serial number of this token, lowercase hex. */
  serialNumber: string;
  /** Lowercase hex of the SHA-256 that was stamped. */
  digest: string;
}

export interface VerifiedTimestamp {
  genTime: Date;
  serialNumber: string;
  /** Lowercase hex SHA-256 of the DER of the TSA certificate that signed the token. */
  tsaCertFingerprint: string;
}
export function assertSha256(digest: Buffer): void {
  if (!Buffer.isBuffer(digest) || digest.length !== 32) {
    throw new TimestampError(`the digest to stamp must be a 32-byte SHA-256, got ${Buffer.isBuffer(digest) ? `${digest.length} bytes` : typeof digest}`);
  }
}

export function parse<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch {
    throw new TimestampError(`${what} is not well-formed DER`);
  }
}

export function hexOfInteger(value: asn1js.Integer): string {
  return value.toBigInt().toString(16);
}
interface OpenedToken {
  signedData: pkijs.SignedData;
  tstInfo: pkijs.TSTInfo;
  /** The DER of TSTInfo as signed (the eContent octets). */
  eContent: Buffer;
}

export function openToken(tokenDer: Buffer): OpenedToken {
  const contentInfo = parse('the timestamp token', () => pkijs.ContentInfo.fromBER(toArrayBuffer(tokenDer)));
  if (contentInfo.contentType !== OID.signedData) throw new TimestampError('the timestamp token is not CMS SignedData');
  const signedData = parse('the timestamp token', () => new pkijs.SignedData({ schema: contentInfo.content }));
  const encap = signedData.encapContentInfo;
  if (encap.eContentType !== OID.tstInfo || !encap.eContent) throw new TimestampError('the timestamp token does not contain a TSTInfo');
  const eContent = Buffer.from(encap.eContent.getValue());
  const tstInfo = parse('the TSTInfo of the timestamp token', () => pkijs.TSTInfo.fromBER(toArrayBuffer(eContent)));
  if (tstInfo.version !== 1) throw new TimestampError(`the TSTInfo has version ${tstInfo.version}, not 1`);
  return { signedData, tstInfo, eContent };
}

export function assertImprint(tstInfo: pkijs.TSTInfo, digest: Buffer): void {
  const imprint = tstInfo.messageImprint;
  if (imprint.hashAlgorithm.algorithmId !== OID.sha256) {
    throw new TimestampError(`the token stamps a digest made with algorithm ${imprint.hashAlgorithm.algorithmId}, not SHA-256`);
  }
  if (!Buffer.from(imprint.hashedMessage.valueBlock.valueHexView).equals(digest)) {
    throw new TimestampError('the token stamps a different digest');
  }
}
function certificatesOfPem(pems: string[]): X509Certificate[] {
  const blocks = pems.flatMap((pem) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []);
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new TimestampError('a trusted TSA certificate is not a valid PEM certificate');
    }
  });
}

function sha(name: string, data: Uint8Array): Buffer {
  return createHash(name).update(data).digest();
}

/** The certificate the SignerInfo names, by issuer and serial number or by subject key identifier. */
function findSigner(signerInfo: pkijs.SignerInfo, candidates: Buffer[]): Buffer | undefined {
  const sid = signerInfo.sid as unknown;
  return candidates.find((der) => {
    let cert: pkijs.Certificate;
    try {
      cert = pkijs.Certificate.fromBER(toArrayBuffer(der));
    } catch {
      return false;
    }
    if (sid instanceof pkijs.IssuerAndSerialNumber) {
      return cert.issuer.isEqual(sid.issuer) && cert.serialNumber.isEqual(sid.serialNumber);
    }
    // Otherwise the sid is [0] IMPLICIT SubjectKeyIdentifier, which pkijs leaves as a primitive.
    const keyId = Buffer.from((sid as asn1js.Primitive).valueBlock.valueHexView);
    const ski = cert.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
    return ski !== undefined && Buffer.from((ski.parsedValue as asn1js.OctetString).valueBlock.valueHexView).equals(keyId);
  });
}

function attributeValue(signerInfo: pkijs.SignerInfo, type: string): asn1js.AsnType | undefined {
  const found = signerInfo.signedAttrs?.attributes.filter((a) => a.type === type) ?? [];
  if (found.length > 1 || (found.length === 1 && found[0].values.length !== 1)) {
    throw new TimestampError(`the token's signed attribute ${type} is not single-valued`);
  }
  return found[0]?.values[0];
}

/**
 * The ESS signing-certificate(-v2) attribute binds the signature to one certificate (RFC 3161 §2.4.1,
 * RFC 5035), so a certificate with the same key but other extensions cannot be substituted.
 */
function assertSigningCertificate(signerInfo: pkijs.SignerInfo, signerDer: Buffer): void {
  const v2 = attributeValue(signerInfo, OID.signingCertificateV2);
  const v1 = attributeValue(signerInfo, OID.signingCertificate);
  const value = v2 ?? v1;
  if (!value) throw new TimestampError('the token has no signing-certificate attribute naming the TSA certificate');
  try {
    const certs = (value as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
    const first = (certs.valueBlock.value[0] as asn1js.Sequence).valueBlock.value;
    let hashName = 'sha1';
    let certHash = first[0];
    if (v2) {
      hashName = 'sha256';
      if (first[0] instanceof asn1js.Sequence) {
        const oid = new pkijs.AlgorithmIdentifier({ schema: first[0] }).algorithmId;
        hashName = DIGESTS[oid]?.name ?? '';
        certHash = first[1];
      }
    }
    if (!hashName) throw new TimestampError('the signing-certificate attribute uses an unsupported hash algorithm');
    if (!(certHash instanceof asn1js.OctetString)) throw new TimestampError('the signing-certificate attribute is malformed');
    if (!Buffer.from(certHash.valueBlock.valueHexView).equals(sha(hashName, signerDer))) {
      throw new TimestampError('the signing-certificate attribute names another certificate than the one that signed');
    }
  } catch (err) {
    if (err instanceof TimestampError) throw err;
    throw new TimestampError('the signing-certificate attribute is malformed');
  }
}

/** The node:crypto hash name for a CMS signature algorithm; null for algorithms that hash internally. */
function signatureHash(signatureOid: string, digestName: string): string | null {
  switch (signatureOid) {
    case OID.rsaEncryption:
      return digestName;
    case OID.sha256WithRsa:
    case OID.ecdsaWithSha256:
      return 'sha256';
    case OID.sha384WithRsa:
    case OID.ecdsaWithSha384:
      return 'sha384';
    case OID.sha512WithRsa:
    case OID.ecdsaWithSha512:
      return 'sha512';
    case OID.ed25519:
      return null;
    default:
      throw new TimestampError(`the token is signed with algorithm ${signatureOid}, which is not supported`);
  }
}

/** RFC 3161 §2.3: a TSA certificate has exactly the id-kp-timeStamping extended key usage, marked critical. */
function assertTimestampingCertificate(signer: pkijs.Certificate, genTime: Date): void {
  const eku = signer.extensions?.find((e) => e.extnID === OID.extKeyUsage);
  const purposes = (eku?.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
  if (!eku || !eku.critical || purposes.length !== 1 || purposes[0] !== OID.timeStamping) {
    throw new TimestampError('the signing certificate is not a TSA certificate (it lacks the critical id-kp-timeStamping extended key usage)');
  }
  if (genTime < signer.notBefore.value || genTime > signer.notAfter.value) {
    throw new TimestampError('the token was issued outside the validity period of the TSA certificate');
  }
}

/**
 * Checks a stored token on its own: it stamps `digest`, its CMS signature (over the signed attributes,
 * whose messageDigest covers the TSTInfo) verifies with the certificate it names, and that certificate is
 * one of `trustedCertsPem` (compared by SHA-256 of the DER; no chain is built).
 */
export function verifyTimestampToken(token: string, digest: Buffer, trustedCertsPem: string[]): VerifiedTimestamp {
  assertSha256(digest);
  const trusted = certificatesOfPem(trustedCertsPem);
  if (trusted.length === 0) throw new TimestampError('no trusted TSA certificate was given');
  const trustedFingerprints = new Set(trusted.map((c) => sha('sha256', c.raw).toString('hex')));

  const { signedData, tstInfo, eContent } = openToken(Buffer.from(token, 'base64'));
  assertImprint(tstInfo, digest);

  if (signedData.signerInfos.length !== 1) throw new TimestampError(`the token has ${signedData.signerInfos.length} signers, not exactly one`);
  const signerInfo = signedData.signerInfos[0];
  const embedded = (signedData.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate).map((c) => derOf(c.toSchema()));
  // A token made without certReq carries no certificate; the trusted ones may then be the signer.
  const signerDer = findSigner(signerInfo, [...embedded, ...trusted.map((c) => c.raw)]);
  if (!signerDer) throw new TimestampError('the token does not contain the certificate that signed it');
  const tsaCertFingerprint = sha('sha256', signerDer).toString('hex');
  if (!trustedFingerprints.has(tsaCertFingerprint)) {
    throw new TimestampError(`the token is signed by a certificate that is not a trusted TSA certificate (SHA-256 ${tsaCertFingerprint})`);
  }
  assertTimestampingCertificate(pkijs.Certificate.fromBER(toArrayBuffer(signerDer)), tstInfo.genTime);

  const digestName = DIGESTS[signerInfo.digestAlgorithm.algorithmId]?.name;
  if (!digestName) throw new TimestampError(`the token's signature uses digest ${signerInfo.digestAlgorithm.algorithmId}, which is not supported`);
  if (!signerInfo.signedAttrs) throw new TimestampError('the token has no signed attributes');
  const contentType = attributeValue(signerInfo, OID.contentType);
  if (!(contentType instanceof asn1js.ObjectIdentifier) || contentType.valueBlock.toString() !== OID.tstInfo) {
    throw new TimestampError('the token\'s content-type attribute is not id-ct-TSTInfo');
  }
  const messageDigest = attributeValue(signerInfo, OID.messageDigest);
  if (!(messageDigest instanceof asn1js.OctetString) || !Buffer.from(messageDigest.valueBlock.valueHexView).equals(sha(digestName, eContent))) {
    throw new TimestampError('the token\'s TSTInfo was altered after signing (message digest mismatch)');
  }
  assertSigningCertificate(signerInfo, signerDer);

  // pkijs keeps the signed attributes as received, retagged as SET: the bytes the signature covers (RFC 5652 §5.4).
  const signedBytes = Buffer.from(signerInfo.signedAttrs.encodedValue);
  const signerKey = new X509Certificate(signerDer).publicKey;
  const signature = Buffer.from(signerInfo.signature.valueBlock.valueHexView);
  let valid: boolean;
  try {
    const hashName = signatureHash(signerInfo.signatureAlgorithm.algorithmId, digestName);
    valid = verifySignature(hashName, signedBytes, { key: signerKey, dsaEncoding: 'der' }, signature);
  } catch (err) {
    if (err instanceof TimestampError) throw err;
    valid = false;
  }
  if (!valid) throw new TimestampError('the token\'s signature does not verify with the TSA certificate');

  return { genTime: tstInfo.genTime, serialNumber: hexOfInteger(tstInfo.serialNumber), tsaCertFingerprint };
}

/**
 * A checkpoint's TSA token, as the signer, `attest verify --db` and the pack verifier all check it: it stamps
 * SHA-256 of the checkpoint's signed message (verifyTimestampToken), and its genTime is not before the
 * checkpoint's signedAt — the token carries whole seconds, so the checkpoint's milliseconds are allowed for.
 */
export function verifyCheckpointStamp(token: string, message: Buffer | string, signedAt: string, trustedCertsPem: string[]): VerifiedTimestamp {
  const stamped = verifyTimestampToken(token, createHash('sha256').update(message).digest(), trustedCertsPem);
  if (stamped.genTime.getTime() + 1000 <= Date.parse(signedAt)) {
    throw new TimestampError(`the TSA stamped it at ${stamped.genTime.toISOString()}, before its signedAt ${signedAt}: the checkpoint was backdated`);
  }
  return stamped;
}
