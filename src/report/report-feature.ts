import type { KeyObject } from 'node:crypto';
import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { EvidenceLinks } from '../evidence/evidence-links';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import { createReportRouter } from './report-router';
import { ReportService, ReportSource } from './report-service';

/** Builds the report feature for the composition root: its service and its routes. */
export function createReport(deps: {
  addon: AddOn;
  /** The evidence export's read path (an AuditReadModel on the exports' pool). */
  source: ReportSource;
  publicKey: KeyObject;
  secretKey: Buffer;
  clock: Clock;
  signHead: (clientKey: string) => Promise<unknown>;
  authorise: (user: { clientKey: string; accountId: string }, spaceKey: string | null) => Promise<void>;
  logger: Logger;
}): { service: ReportService; router: Router } {
  const service = new ReportService({ source: deps.source, publicKey: deps.publicKey, clock: deps.clock, signHead: deps.signHead });
  const links = new EvidenceLinks<'html'>(deps.secretKey, deps.clock, { purpose: 'report-view', formats: ['html'] });
  return { service, router: createReportRouter({ addon: deps.addon, service, authorise: deps.authorise, links, logger: deps.logger }) };
}
