/**
 * Signed checkpoints (#4) and their witnesses, assembled: every checkpoint is published where the database cannot
 * write — the tenant's Confluence (the trail) and an RFC 3161 TSA (`config.tsa`; in development app.ts points
 * `witnesses.tsa` at the devhost's stand-in once the devhost exists).
 */
import type { Knex } from 'knex';
import type { Config } from '../config';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Logger } from '../lib/logger';
import { keyIdOf } from './checkpoint-format';
import { CheckpointService, CheckpointWitnesses, createCheckpointService } from './checkpoint-service';
import { CheckpointTrail } from './witness/checkpoint-trail';
import { ConfluenceWitness } from './witness/confluence-witness';

export function createCheckpoints(deps: { db: Knex; config: Config; confluence: ConfluenceClient; logger: Logger }): {
  checkpoints: CheckpointService;
  trail: CheckpointTrail;
  witnesses: CheckpointWitnesses;
} {
  const { db, config, confluence, logger } = deps;
  const confluenceWitness = new ConfluenceWitness(confluence);
  const trail = new CheckpointTrail({
    confluence,
    history: (clientKey) => confluenceWitness.history(clientKey),
    keyId: keyIdOf(config.signingKey),
    logger: logger.child({ component: 'checkpoint-trail' }),
  });
  const witnesses: CheckpointWitnesses = { confluence: confluenceWitness, tsa: config.tsa, trail };
  const checkpoints = createCheckpointService(db, config, logger.child({ component: 'checkpoints' }), witnesses);
  return { checkpoints, trail, witnesses };
}
