import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { keyIdOf, publicKeyPem } from '../audit/checkpoint-format';
import type { Config } from '../config';

/**
 * The app descriptor Confluence installs, the checkpoint key auditors pin, and the root. The descriptor names
 * the checkpoint key's id (from this process's key, never the database): Confluence keeps the descriptor it
 * installed, so the fingerprint in force is on record outside the operator's reach.
 */
export function createDescriptorRouter(opts: { addon: AddOn; config: Pick<Config, 'localBaseUrl' | 'signingKey' | 'devhost'> }): Router {
  const { addon, config } = opts;
  const router = Router();
  const keyId = keyIdOf(config.signingKey);
  const descriptor = {
    ...addon.descriptor,
    links: {
      ...((addon.descriptor as { links?: Record<string, string> }).links ?? {}),
      self: `${config.localBaseUrl}/atlassian-connect.json`,
      'attest-checkpoint-key': `${config.localBaseUrl}/checkpoint-key?keyId=${keyId}`,
    },
  };
  router.get('/atlassian-connect.json', (_req, res) => {
    res.json(descriptor);
  });
  // The checkpoint key, from this process over HTTPS, where the database cannot change it: auditors pin it.
  router.get('/checkpoint-key', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json({ algorithm: 'Ed25519', keyId, publicKeyPem: publicKeyPem(config.signingKey) });
  });
  router.get('/favicon.ico', (_req, res) => res.status(204).end());
  router.get('/', (_req, res) => res.redirect(config.devhost ? '/devhost' : '/atlassian-connect.json'));
  return router;
}
