import { keyIdOf, publicKeyPem } from '../audit/checkpoint-format';
import { loadConfig } from '../config';
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
    const { signingKey } = loadConfig(ctx.env);
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
