import type { Knex } from 'knex';
import type { AuditLog } from '../audit/audit-log';
import type { Logger } from '../lib/logger';
import type { TenantDuty } from '../scheduler/jobs';
import { HttpPrivacyReportClient } from './privacy-client';
import { privacyDuties } from './privacy-duties';
import { PrivacyService } from './privacy-service';
import { PersonalDataHolders, PrivacyStore, privacyStores } from './privacy-store';

/** Builds the personal-data reporting and erasure feature (Atlassian's privacy API, issue 5) and its duty. */
export function createPrivacy(deps: {
  db: Knex;
  audit: AuditLog;
  /** Atlassian's personal data reporting API (config.privacyUrl). */
  privacyUrl: string;
  /** The installation's app key and shared secret, for signing its reports; null when not installed. */
  credentials: (clientKey: string) => Promise<{ addonKey: string; sharedSecret: string } | null>;
  /** Every store that keeps accountIds (each feature offers its own), and the audit chain's subjects. */
  personalData: PersonalDataHolders;
  logger: Logger;
}): { service: PrivacyService; duties: TenantDuty[] } {
  const service = new PrivacyService({
    stores: privacyStores(deps.db, { store: new PrivacyStore(deps.db, deps.personalData), audit: deps.audit }),
    client: new HttpPrivacyReportClient(deps.privacyUrl, { credentials: deps.credentials }),
    logger: deps.logger.child({ component: 'privacy' }),
  });
  return { service, duties: privacyDuties(service) };
}
