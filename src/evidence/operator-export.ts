import type { KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../lib/clock';
import { startReport } from '../report/report-service';
import { EvidenceService } from './evidence-service';
import { AuditReadModel } from '../audit/audit-read-model';

/**
 * The export service without Confluence permission checks, for the operator's `attest export`. It signs no
 * checkpoint (it has no witness), so its exports end at the last witnessed one; with the signing key it signs
 * the pack's manifest, without it (only the public key, or none) the manifest is unsigned and hides no row.
 * Apart from evidence-feature.ts, so that the CLI does not load the web stack the routes need (issue 15: an
 * export's peak memory starts from what it loaded).
 */
export function createOperatorExport(db: Knex, keys: { signingKey: KeyObject | null; publicKey: KeyObject | null }, clock: Clock): EvidenceService {
  return new EvidenceService({ store: new AuditReadModel(db), signingKey: keys.signingKey, publicKey: keys.publicKey, clock, signHead: async () => undefined, report: startReport });
}
