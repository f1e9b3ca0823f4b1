import type { KeyObject } from 'node:crypto';
import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import type { SpacePolicyProvider } from '../approvals/space-policy';
import type { CheckpointService } from '../audit/checkpoint-service';
import type { Config } from '../config';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import { startReport } from '../report/report-service';
import { EvidenceLinks } from './evidence-links';
import { createEvidenceRouter } from './evidence-router';
import { EvidenceService } from './evidence-service';
import { AuditReadModel } from '../audit/audit-read-model';
import { ExportLimiter, ExportLimits } from './export-limits';

/** Builds the evidence feature for the composition root: its service and its routes. */
export function createEvidence(deps: {
  addon: AddOn;
  /** The exports' own pool (`limits.concurrent` connections): a slow download never holds one that requests need. */
  exportDb: Knex;
  limits: ExportLimits;
  config: Pick<Config, 'secretKey' | 'signingKey'>;
  clock: Clock;
  confluence: ConfluenceClient;
  policies: SpacePolicyProvider;
  checkpoints: CheckpointService;
  logger: Logger;
}): { service: EvidenceService; router: Router } {
  const service = new EvidenceService({
    ...exportDeps(deps.exportDb, deps.config.signingKey, deps.clock, deps.checkpoints),
    confluence: deps.confluence,
    policies: deps.policies,
  });
  const links = new EvidenceLinks(deps.config.secretKey, deps.clock);
  const limiter = new ExportLimiter(deps.limits);
  return {
    service,
    router: createEvidenceRouter({ addon: deps.addon, service, links, logger: deps.logger, limiter, stallMs: deps.limits.stallMs }),
  };
}

export { createOperatorExport } from './operator-export';

/** Every export first signs the tenant's head as a checkpoint, as the scheduler would, so it ends at a signature. */
function exportDeps(db: Knex, signingKey: KeyObject, clock: Clock, checkpoints: CheckpointService) {
  return {
    store: new AuditReadModel(db),
    signingKey,
    clock,
    signHead: (clientKey: string) => checkpoints.checkpoint(clientKey, clock.now()),
    report: startReport,
  };
}
