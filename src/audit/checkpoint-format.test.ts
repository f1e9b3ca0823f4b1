import { generateKeyPairSync } from 'node:crypto';
import { checkpointMessage, keyIdOf, publicKeyPem, signCheckpoint, verifyCheckpoint } from './checkpoint-format';

describe('checkpoint format v1', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const cp = { clientKey: 'tenant-1', seq: 42, chainHash: 'ab'.repeat(32), signedAt: '2026-03-01T12:05:00.000Z' };

  it('signs exactly the documented message', () => {
    expect(checkpointMessage(cp).toString('utf8')).toBe(`attest-checkpoint-v1\ntenant-1\n42\n${'ab'.repeat(32)}\n2026-03-01T12:05:00.000Z\n`);
  });

  it('verifies with the public PEM alone and refuses any changed field', () => {
    const sig = signCheckpoint(privateKey, cp);
    const pem = publicKeyPem(privateKey);
    expect(verifyCheckpoint(pem, cp, sig)).toBe(true);
    expect(verifyCheckpoint(pem, { ...cp, seq: 43 }, sig)).toBe(false);
    expect(verifyCheckpoint(pem, { ...cp, chainHash: 'cd'.repeat(32) }, sig)).toBe(false);
    expect(verifyCheckpoint(pem, cp, 'not a signature')).toBe(false);
    expect(verifyCheckpoint(generateKeyPairSync('ed25519').publicKey, cp, sig)).toBe(false);
  });

  it('names a key by the SHA-256 of its SPKI DER, the same from either half', () => {
    expect(keyIdOf(privateKey)).toMatch(/^[0-9a-f]{64}$/);
    expect(keyIdOf(publicKeyPem(privateKey))).toBe(keyIdOf(privateKey));
  });
});

describe('publicKeyOf', () => {
  it('accepts a public KeyObject as well as a private key or a PEM of either half', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(publicKeyPem(publicKey)).toBe(pem);
    expect(publicKeyPem(privateKey)).toBe(pem);
    expect(publicKeyPem(pem)).toBe(pem);
  });
});
