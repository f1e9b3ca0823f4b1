/**
 * Signed checkpoints (#4) and their witnesses, assembled: every checkpoint is published where the database cannot
 * write — the tenant's Confluence (the trail) and an RFC 3161 TSA (`config.tsa`; in development app.ts points
 * `witnesses.tsa` at the devhost's stand-in once the devhost exists).
 */
import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import { withTransactional } from '../db/transactional';
import type { Clock } from '../lib/clock';
import type { AuditLog } from './audit-log';
import type { Config } from '../config';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Logger } from '../lib/logger';
import type { TenantDuty } from '../scheduler/jobs';
import { checkpointDuties } from './checkpoint-duties';
import { keyIdOf } from './checkpoint-format';
import { CheckpointService, CheckpointWitnesses, createCheckpointService } from './checkpoint-service';
import { CheckpointTrail } from './witness/checkpoint-trail';
import { ConfluenceWitness } from './witness/confluence-witness';
import { createTrailRouter } from './witness/trail-router';
import { TrailService } from './witness/trail-service';

export function createCheckpoints(deps: { db: Knex; addon: AddOn; audit: AuditLog; config: Config; confluence: ConfluenceClient; clock: Clock; logger: Logger }): {
  checkpoints: CheckpointService;
  trail: CheckpointTrail;
  /** The checkpoint trail page's API. */
  router: Router;
  /** Signing, verification and the trail's page, for every tenant on their schedules. */
  duties: TenantDuty[];
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
  const service = new TrailService({ trail, confluence, audit: withTransactional(db, (trx) => ({ audit: deps.audit.in(trx) })), clock: deps.clock });
  return { checkpoints, trail, witnesses, router: createTrailRouter({ addon: deps.addon, service }), duties: checkpointDuties(checkpoints) };
}
