/**
 * Signed checkpoints, format v1 (docs/operations.md). Pure: message, key id, Ed25519 sign and verify
 * with node:crypto alone, so an auditor can check a checkpoint with nothing but `attest keys`' PEM.
 */
import { createHash, createPublicKey, KeyObject, sign, verify } from 'node:crypto';

export interface CheckpointFields {
  clientKey: string;
  seq: number;
  /** Lower-case hex chain hash of the event at `seq`. */
  chainHash: string;
  /** ISO-8601 UTC, as produced by Date#toISOString (milliseconds, "Z"). */
  signedAt: string;
}

/**
 * A signed checkpoint: the one shape the signer, its store, the witnesses, the dashboard and the CLI share
 * (issue 14 §4). `signedAt` is the exact text that was signed, never a Date to be formatted again. An evidence
 * pack writes it as checkpoint.json with `tenant` for `clientKey` (src/evidence/evidence-checkpoint.ts, the file
 * format).
 */
export interface SignedCheckpoint extends CheckpointFields {
  /** hex SHA-256 of the signing public key's DER (SPKI). */
  keyId: string;
  /** base64 Ed25519 signature over checkpointMessage(fields). */
  signature: string;
}

/** The exact signed bytes: UTF-8, "\n" line ends, trailing newline. */
export function checkpointMessage(c: CheckpointFields): Buffer {
  return Buffer.from(`attest-checkpoint-v1\n${c.clientKey}\n${c.seq}\n${c.chainHash}\n${c.signedAt}\n`, 'utf8');
}

/** The public half of a signing key: a private or public KeyObject, or a PEM of either half. */
export function publicKeyOf(key: KeyObject | string): KeyObject {
  return typeof key !== 'string' && key.type === 'public' ? key : createPublicKey(key);
}

export function publicKeyPem(key: KeyObject | string): string {
  return publicKeyOf(key).export({ type: 'spki', format: 'pem' }).toString();
}

/** hex SHA-256 of the public key's DER (SPKI) encoding. */
export function keyIdOf(key: KeyObject | string): string {
  const der = publicKeyOf(key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

/** Base64 Ed25519 signature of the checkpoint message. */
export function signCheckpoint(privateKey: KeyObject, c: CheckpointFields): string {
  return sign(null, checkpointMessage(c), privateKey).toString('base64');
}

export function verifyCheckpoint(publicKey: KeyObject | string, c: CheckpointFields, signatureBase64: string): boolean {
  try {
    return verify(null, checkpointMessage(c), publicKeyOf(publicKey), Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}
