import type { KeyObject } from 'node:crypto';
import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { EvidenceLinks } from '../evidence/evidence-links';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { Authorise } from './report-access';
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
  /** The evidence export's permission rule: the report shows what the export shows. */
  authorise: Authorise;
  logger: Logger;
}): { service: ReportService; router: Router } {
  const service = new ReportService({ source: deps.source, publicKey: deps.publicKey, clock: deps.clock, signHead: deps.signHead, authorise: deps.authorise });
  const links = new EvidenceLinks<'html'>(deps.secretKey, deps.clock, { purpose: 'report-view', formats: ['html'] });
  return { service, router: createReportRouter({ addon: deps.addon, service, links, logger: deps.logger }) };
}
