import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Authenticated appends: every audit event carries an HMAC-SHA256 of its leaf hash under a per-tenant
 * key derived (HKDF-SHA256) from ATTEST_SECRET_KEY, which never reaches the database. A database
 * superuser can write rows whose hashes chain correctly, but not their MACs, so the checkpoint job
 * refuses to sign a row it did not append itself. The leaf hash commits to the canonical text, which
 * holds the tenant and the seq: a MAC cannot be moved to another row or tenant.
 *
 * Rows written before MACs existed are "adopted" once per tenant at start-up (event-mac adoption): one
 * MAC over the seq and chain hash of the last such row vouches for that prefix, at the trust level the
 * signer had before (it signed whatever the database showed). docs/threat-model.md says so.
 */
const EVENT_LABEL = Buffer.from('attest-event-mac-v1\n', 'utf8');
const ADOPTION_LABEL = Buffer.from('attest-adoption-mac-v1\n', 'utf8');

export type MacKey = (clientKey: string) => Buffer;

/** The per-tenant MAC key function for a deployment's secret key (32 bytes). */
export function macKeys(secretKey: Buffer): MacKey {
  const cache = new Map<string, Buffer>();
  return (clientKey) => {
    let key = cache.get(clientKey);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.from('attest-audit-mac', 'utf8'), Buffer.from(clientKey, 'utf8'), 32));
      if (cache.size > 10_000) cache.clear();
      cache.set(clientKey, key);
    }
    return key;
  };
}

export function eventMac(key: Buffer, leafHash: Buffer): Buffer {
  return createHmac('sha256', key).update(EVENT_LABEL).update(leafHash).digest();
}

export function adoptionMac(key: Buffer, throughSeq: number, chainHash: Buffer): Buffer {
  const seq = Buffer.alloc(8);
  seq.writeBigUInt64BE(BigInt(throughSeq));
  return createHmac('sha256', key).update(ADOPTION_LABEL).update(seq).update(chainHash).digest();
}

export function sameMac(a: Buffer | null | undefined, b: Buffer): boolean {
  return !!a && a.length === b.length && timingSafeEqual(a, b);
}
