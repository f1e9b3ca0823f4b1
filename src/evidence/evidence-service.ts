import type { KeyObject } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SpacePolicyProvider } from '../approvals/space-policy';
import { ConfluenceClient, isSpaceAdmin } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import { ConflictError, NotAllowedError } from '../lib/errors';
import { csvRecord } from './csv-records';
import { EVIDENCE_COLUMNS, EvidenceEvent } from './evidence-csv';
import { planExport } from './evidence-plan';
import { exportRecords, textOf } from './evidence-records';
import type { AuditReads } from '../audit/audit-read-model';
import type { EvidenceFilter, EvidenceFormat, ExportOptions, ExportSummary, PackReportWriter } from './evidence-types';
import { writePack } from './pack-writer';

export type { EvidenceFilter, EvidenceFormat, ExportOptions, ExportSummary, PackReport, PackReportWriter } from './evidence-types';

/**
 * Evidence exports: who may export what, and the CSV / zip pack streamed from one read-only snapshot
 * of the tenant's chain (memory stays flat whatever the size).
 */
/** An export a person may have: its file name, and the stream of its bytes (from one snapshot). */
export interface PreparedExport {
  user: { clientKey: string; accountId: string };
  filter: EvidenceFilter;
  format: EvidenceFormat;
  fileName: string;
  write(out: Writable, opts?: ExportOptions): Promise<ExportSummary>;
}

export class EvidenceService {
  constructor(
    private readonly deps: {
      store: AuditReads;
      /**
       * The checkpoint signing key (private): it signs each pack's manifest. Null for the operator's CLI, which
       * holds only the public key: its packs' manifests are unsigned, so they may hide no row (see write).
       */
      signingKey: KeyObject | null;
      /** The public key put in packs as public-key.pem (derived from the signing key when there is one). */
      publicKey?: KeyObject | null;
      /**
       * Signs the tenant's current head as a checkpoint (recorded like the scheduled ones, after re-hashing
       * every row since the previous one), so that an export ends at a signature.
       */
      signHead: (clientKey: string) => Promise<unknown>;
      clock: Clock;
      /** Absent for the operator's CLI, which needs no Confluence permission. */
      confluence?: ConfluenceClient;
      policies?: SpacePolicyProvider;
      /** Writes the pack's report.html from the same snapshot (src/report); absent: the pack has none. */
      report?: PackReportWriter;
    },
  ) {}

  /**
   * An export for a person, once they may have it (`authorise`): what the routes stream, or sign a link to. The
   * permission is this operation's; no route checks one itself.
   */
  async exportFor(user: { clientKey: string; accountId: string }, filter: EvidenceFilter, format: EvidenceFormat): Promise<PreparedExport> {
    await this.authorise(user, filter.spaceKey);
    return {
      user,
      filter,
      format,
      fileName: this.fileName(filter, format),
      write: (out, opts) => this.write(user.clientKey, filter, format, out, opts),
    };
  }

  /**
   * Site admins export the site and any space; space admins export their space unless the space's
   * policy keeps exports to site admins.
   */
  async authorise(user: { clientKey: string; accountId: string }, spaceKey: string | null): Promise<void> {
    const { confluence, policies } = this.deps;
    if (!confluence || !policies) throw new NotAllowedError('exports need a Confluence permission check');
    if (!user.accountId) throw new NotAllowedError('exports need a signed-in Atlassian account');
    if (spaceKey === null) {
      if (await confluence.isSiteAdmin(user.clientKey, user.accountId)) return;
      throw new NotAllowedError('Only Confluence site administrators can export the evidence of the whole site.');
    }
    const policy = await policies.policyFor(user.clientKey, spaceKey);
    if (policy.exportRole === 'space-admins' && (await isSpaceAdmin(confluence, user.clientKey, spaceKey, user.accountId))) return;
    if (await confluence.isSiteAdmin(user.clientKey, user.accountId)) return;
    throw new NotAllowedError(
      policy.exportRole === 'site-admins'
        ? `Only site administrators can export the evidence of space ${spaceKey} (space policy).`
        : `Only administrators of space ${spaceKey} can export its evidence.`,
    );
  }

  fileName(filter: EvidenceFilter, format: EvidenceFormat): string {
    const day = this.deps.clock.now().toISOString().slice(0, 10);
    const scope = filter.spaceKey ? filter.spaceKey.replace(/[^A-Za-z0-9_-]/g, '_') : 'site';
    return `attest-evidence-${scope}-${day}.${format}`;
  }

  /** Streams the export to `out` (ended when done) and returns what it wrote. */
  async write(clientKey: string, filter: EvidenceFilter, format: EvidenceFormat, out: Writable, opts: ExportOptions = {}): Promise<ExportSummary> {
    // Only a signed manifest can vouch that the rows a pack shows by hash only are outside its filter.
    const unsignedPack = format === 'zip' && this.deps.signingKey === null;
    if (unsignedPack && filter.spaceKey !== null) {
      throw new ConflictError(
        'A pack of one space hides the other spaces\' events, and only a manifest signed with the checkpoint key can vouch for what it hides. ' +
          'Export it from the space\'s Evidence tab, or export the whole site.',
      );
    }
    await this.deps.signHead(clientKey);
    return this.deps.store.snapshot(async (store) => {
      const planned = await planExport(store, clientKey, filter);
      // Unsigned: rows after --to up to the checkpoint are shown in full rather than hidden.
      const plan = planned && unsignedPack ? { ...planned, contentToSeq: planned.toSeq } : planned;
      const summary: ExportSummary = {
        tenant: clientKey,
        rows: 0,
        redactedRows: 0,
        firstSeq: null,
        lastSeq: null,
        checkpoint: plan?.checkpoint ?? null,
        endedAtCheckpoint: plan?.endedAtCheckpoint ?? null,
      };
      const records = (observe?: (e: EvidenceEvent, parsed: unknown) => void) =>
        plan ? exportRecords(store, clientKey, filter, plan, summary, { ...opts, observe }) : Readable.from([]);
      if (format === 'csv') {
        await pipeline(records(), textOf(csvRecord, csvRecord(EVIDENCE_COLUMNS)), out, { signal: opts.signal });
      } else {
        await writePack(this.deps, { store, clientKey, filter, plan, summary, records, signal: opts.signal }, out);
      }
      return summary;
    });
  }
}
