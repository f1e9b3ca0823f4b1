/**
 * Signed checkpoints as an evidence pack carries them. The message, key id and signature check are the
 * scheduler's (src/audit/checkpoint-format.ts); this file only adds the pack's shape and how it is read.
 */
import { createHash, KeyObject, sign, verify } from 'node:crypto';
import { checkpointMessage as message, keyIdOf, publicKeyOf, publicKeyPem, verifyCheckpoint } from '../audit/checkpoint-format';

export { publicKeyPem };
/** hex SHA-256 of the public key's SPKI DER: the checkpoints' `key_id`. */
export const keyId = keyIdOf;

/** A signed head of a tenant's chain, as checkpoint.json in a pack. */
export interface Checkpoint {
  tenant: string;
  seq: number;
  /** Lower-case hex. */
  chainHash: string;
  /** ISO-8601 UTC, exactly as signed. */
  signedAt: string;
  /** base64 Ed25519 signature over the v1 message. */
  signature: string;
  /** hex SHA-256 of the signing public key's DER (SPKI). */
  keyId: string;
  /** The TSA's token for this checkpoint (base64 DER), when a TSA witnessed it; packs carry it as checkpoint.tst. */
  timestampToken?: string | null;
}

const fields = (c: Pick<Checkpoint, 'tenant' | 'seq' | 'chainHash' | 'signedAt'>) => ({ clientKey: c.tenant, seq: c.seq, chainHash: c.chainHash, signedAt: c.signedAt });

/** `attest-checkpoint-v1\n<clientKey>\n<seq>\n<chain_hash hex>\n<signed_at>\n` */
export function checkpointMessage(c: Pick<Checkpoint, 'tenant' | 'seq' | 'chainHash' | 'signedAt'>): string {
  return message(fields(c)).toString('utf8');
}

export function checkpointSignatureValid(c: Checkpoint, publicKey: KeyObject): boolean {
  return typeof c.signature === 'string' && verifyCheckpoint(publicKey, fields(c), c.signature);
}

/**
 * The signed statement over a pack's manifest.json, which lists every other file's SHA-256:
 * `attest-pack-manifest-v1\n<clientKey>\n<hex SHA-256 of manifest.json>\n`, signed with the checkpoint key.
 */
export function manifestMessage(tenant: string, manifest: Buffer): string {
  return `attest-pack-manifest-v1\n${tenant}\n${createHash('sha256').update(manifest).digest('hex')}\n`;
}

/** Raw Ed25519 signature (manifest.sig) of the manifest statement. */
export function signManifest(privateKey: KeyObject, tenant: string, manifest: Buffer): Buffer {
  return sign(null, Buffer.from(manifestMessage(tenant, manifest), 'utf8'), privateKey);
}

export function manifestSignatureValid(publicKey: KeyObject, tenant: string, manifest: Buffer, signature: Buffer): boolean {
  try {
    return verify(null, Buffer.from(manifestMessage(tenant, manifest), 'utf8'), publicKeyOf(publicKey), signature);
  } catch {
    return false;
  }
}

/** Reads the checkpoint the exporter needs; null when none exists (or the table does not yet). */
export interface CheckpointSource {
  /**
   * The first checkpoint at or after `seq` (it covers every row up to it); failing that the latest one
   * in `minSeq..seq` (it covers a prefix).
   */
  checkpointFor(clientKey: string, seq: number, minSeq: number): Promise<Checkpoint | null>;
}
