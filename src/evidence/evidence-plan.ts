/** Which rows an evidence export writes: a contiguous seq range ending at a signed checkpoint. */
import { genesisHash } from '../audit/audit-format';
import { ConflictError } from '../lib/errors';
import type { AuditReads } from '../audit/audit-read-model';
import type { EvidenceFilter, ExportPlan } from './evidence-types';

/**
 * The contiguous seq range of the filter, ending at a signed checkpoint: extended to the first checkpoint
 * at or after its last row, or, when none covers that row, cut at the latest checkpoint inside the range.
 * Without any checkpoint in the range the rows are exported unsigned (the verifier says so). Null: no rows.
 */
export async function planExport(store: AuditReads, clientKey: string, filter: EvidenceFilter): Promise<ExportPlan | null> {
  const head = await store.lastSeq(clientKey);
  if (head === 0) return null;
  const fromSeq = filter.from ? await store.firstSeqFrom(clientKey, filter.from) : 1;
  const lastInFilter = filter.to ? await store.lastSeqBefore(clientKey, filter.to) : head;
  await checkBoundaries(store, clientKey, filter, { fromSeq, lastSeq: lastInFilter, head });
  if (fromSeq === null || lastInFilter === null || lastInFilter < fromSeq) return null;
  const checkpoint = await store.checkpointFor(clientKey, lastInFilter, fromSeq);
  // A checkpoint signed past the last event is the proof that events were deleted: never export around it.
  if (checkpoint && checkpoint.seq > head) {
    throw new ConflictError(
      `The audit trail ends at event ${head}, but a checkpoint was signed at event ${checkpoint.seq}: events have been deleted. ` +
        'No evidence can be exported until this is investigated (attest verify --db names what is missing).',
    );
  }
  const prev = fromSeq === 1 ? genesisHash(clientKey).toString('hex') : await store.chainHashAt(clientKey, fromSeq - 1);
  if (prev === null) throw new Error(`audit chain of ${clientKey} has no seq ${fromSeq - 1}`);
  const cut = checkpoint !== null && checkpoint.seq < lastInFilter;
  const contentToSeq = cut ? checkpoint!.seq : lastInFilter;
  return {
    fromSeq,
    toSeq: Math.max(contentToSeq, checkpoint?.seq ?? 0),
    contentToSeq,
    prevChainHash: prev,
    checkpoint,
    endedAtCheckpoint: cut ? { requestedToSeq: lastInFilter } : null,
  };
}

/**
 * The time range was found through the `recorded_at` column; the rows just outside it and at its ends must
 * agree with their canonical `at` (which only moves forward along the chain), or a changed column would hide
 * events from the export without any row failing to verify.
 */
async function checkBoundaries(
  store: AuditReads,
  clientKey: string,
  filter: EvidenceFilter,
  range: { fromSeq: number | null; lastSeq: number | null; head: number },
): Promise<void> {
  const { fromSeq, lastSeq, head } = range;
  const disagree = (seq: number) =>
    new ConflictError(
      `The audit table's recorded_at column disagrees with the time in event ${seq}'s signed-over text, so the export's range cannot be trusted. ` +
        'No evidence can be exported until this is investigated (attest verify --db names the row).',
    );
  const at = async (seq: number) => {
    const text = await store.canonicalAt(clientKey, seq);
    const t = text === null ? NaN : Date.parse(text);
    if (Number.isNaN(t)) throw disagree(seq);
    return t;
  };
  if (filter.from) {
    const from = filter.from.getTime();
    if (fromSeq === null) {
      if ((await at(head)) >= from) throw disagree(head);
    } else {
      if ((await at(fromSeq)) < from) throw disagree(fromSeq);
      if (fromSeq > 1 && (await at(fromSeq - 1)) >= from) throw disagree(fromSeq - 1);
    }
  }
  if (filter.to) {
    const to = filter.to.getTime();
    if (lastSeq === null) {
      if ((await at(1)) < to) throw disagree(1);
    } else {
      if ((await at(lastSeq)) >= to) throw disagree(lastSeq);
      if (lastSeq < head && (await at(lastSeq + 1)) < to) throw disagree(lastSeq + 1);
    }
  }
}
