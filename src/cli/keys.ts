import { keyIdOf, publicKeyPem } from '../audit/checkpoint-format';
import path from 'node:path';
import { ConfigError, DEV_SIGNING_KEY_FILE, loadCliConfig } from '../config';
import { CliCommand, EXIT, parseCommandArgs } from './command';

const USAGE = `attest keys [--id]

Prints the public half of the checkpoint signing key (ATTEST_SIGNING_KEY, or the development key in
DATA_DIR) as PEM (SPKI), for verifying signed audit checkpoints with any Ed25519 tool, e.g.
  attest keys > attest-public.pem
  openssl pkeyutl -verify -pubin -inkey attest-public.pem -rawin -in message -sigfile signature.bin
The key id (hex SHA-256 of the key's DER, as stored in audit_checkpoints.key_id) goes to stderr;
--id prints only the key id, to stdout.`;

export const keysCommand: CliCommand = {
  summary: 'print the public key that verifies signed audit checkpoints (PEM)',
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseCommandArgs('keys', args, { id: { type: 'boolean' } });
    // Only `npm start` ever creates a development key: a key made here would sign nothing, and an operator
    // who typed the wrong DATA_DIR would publish a fingerprint no checkpoint is signed with.
    const { signingKey } = loadCliConfig(ctx.env);
    if (!signingKey) {
      const file = path.join(path.resolve(ctx.env.DATA_DIR || './.data'), DEV_SIGNING_KEY_FILE);
      throw new ConfigError(
        'ATTEST_SIGNING_KEY',
        ctx.env.NODE_ENV === 'production' ? 'is not set' : `is not set and ${file} does not exist (in development, npm start creates it)`,
      );
    }
    const keyId = keyIdOf(signingKey);
    if (values.id) {
      ctx.out(keyId);
      return EXIT.ok;
    }
    ctx.out(publicKeyPem(signingKey).trimEnd());
    ctx.err(`key id: ${keyId}`);
    return EXIT.ok;
  },
};
