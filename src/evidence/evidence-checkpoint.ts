/**
 * Signed checkpoints as an evidence pack carries them. The signing side (scheduler) owns the table;
 * this file only knows the v1 message, how to check a signature and how to name a public key.
 */
import { createHash, createPublicKey, KeyObject, verify } from 'node:crypto';

/** A signed head of a tenant's chain. */
export interface Checkpoint {
  tenant: string;
  seq: number;
  /** Lower-case hex. */
  chainHash: string;
  /** ISO-8601 UTC, exactly as signed. */
  signedAt: string;
  /** base64 Ed25519 signature over `checkpointMessage`. */
  signature: string;
  /** hex SHA-256 of the signing public key's DER (SPKI). */
  keyId: string;
}

/** `attest-checkpoint-v1\n<clientKey>\n<seq>\n<chain_hash hex>\n<signed_at>\n` */
export function checkpointMessage(c: Pick<Checkpoint, 'tenant' | 'seq' | 'chainHash' | 'signedAt'>): string {
  return `attest-checkpoint-v1\n${c.tenant}\n${c.seq}\n${c.chainHash}\n${c.signedAt}\n`;
}

export function checkpointSignatureValid(c: Checkpoint, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(checkpointMessage(c), 'utf8'), publicKey, Buffer.from(c.signature, 'base64'));
  } catch {
    return false;
  }
}

/** The public half of a signing key as SPKI PEM (a public key passes through unchanged). */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

/** hex SHA-256 of the key's SPKI DER: the checkpoints' `key_id`. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Reads the checkpoint the exporter needs; null when none exists (or the table does not yet). */
export interface CheckpointSource {
  /**
   * The first checkpoint at or after `seq` (it covers every row up to it); failing that the latest one
   * in `minSeq..seq` (it covers a prefix).
   */
  checkpointFor(clientKey: string, seq: number, minSeq: number): Promise<Checkpoint | null>;
}
