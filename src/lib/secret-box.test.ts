import { randomBytes } from 'node:crypto';
import { SecretBox } from './secret-box';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips and never contains the plaintext', () => {
    const sealed = box.seal('my-shared-secret', 'client-1');
    expect(sealed.includes(Buffer.from('my-shared-secret'))).toBe(false);
    expect(box.open(sealed, 'client-1')).toBe('my-shared-secret');
  });

  it('refuses a ciphertext moved to another tenant, tampered, or under another key', () => {
    const sealed = box.seal('s', 'client-1');
    expect(() => box.open(sealed, 'client-2')).toThrow();
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1] ^= 1;
    expect(() => box.open(tampered, 'client-1')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'client-1')).toThrow();
  });
});
