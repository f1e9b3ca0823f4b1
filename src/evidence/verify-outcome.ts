/** The verdict of a CSV or a pack once its rows are read: `--since`, how far signatures reach, strict mode. */
import { isHashHex } from '../audit/audit-format';
import { type CheckerOptions, EvidenceChecker } from './evidence-checker';
import { PACK_FORMAT_V1 } from './evidence-pack';
import { CheckpointOutcome, FileVerifyOptions, FileVerifyResult, fileProblem, VerifyFailure } from './verify-result';

/**
 * `--since`: the file holds the earlier checkpoint's chain hash at its seq, or starts right after it from that
 * hash. Anything else is a fork (or a range that cannot show the link: then export one that does).
 */
export function checkSince(c: EvidenceChecker, since: { seq: number; chainHash: string }): void {
  const first = c.firstSeq;
  const last = c.lastSeq;
  if (first === null || last === null) fileProblem(`--since: the file has no rows, so it cannot extend the checkpoint at seq ${since.seq}`);
  if (since.seq > last!) fileProblem(`--since: the file ends at seq ${last}, before the earlier checkpoint at seq ${since.seq}: it does not extend it`);
  if (since.seq === first! - 1) {
    if (c.firstPrev !== since.chainHash) fileProblem(`--since: the file starts after seq ${since.seq} from another chain hash than the earlier checkpoint's: the history was forked`);
    return;
  }
  if (since.seq < first! - 1) fileProblem(`--since: the file starts at seq ${first}, after the earlier checkpoint at seq ${since.seq}: export a range that includes seq ${since.seq}`);
  if (c.chainHashSeen(since.seq) !== since.chainHash) {
    throw new VerifyFailure({
      ok: false,
      row: since.seq - first! + 1,
      seq: since.seq,
      reason: `row ${since.seq - first! + 1} (seq ${since.seq}): chain_hash is not the one the earlier checkpoint signed: the history was rewritten or forked after the earlier export`,
    });
  }
}

/**
 * The verdict once every row checked out: how far signatures reach, and under `strict` a failure for
 * rows no signature covers or a manifest nobody signed.
 */
export function success(
  kind: 'csv' | 'zip',
  c: EvidenceChecker,
  checkpoint: CheckpointOutcome,
  manifest: 'signed' | 'unsigned' | 'none',
  strict: boolean,
  since?: { seq: number },
  v1Unsigned = false,
): FileVerifyResult {
  const signedToSeq = checkpoint.status === 'verified' ? checkpoint.seq! : null;
  const unsignedRows = c.lastSeq === null ? 0 : signedToSeq === null ? c.rows : c.lastSeq - signedToSeq;
  if (strict && unsignedRows > 0) {
    const from = signedToSeq === null ? c.firstSeq! : signedToSeq + 1;
    const reach = signedToSeq === null ? 'no signed checkpoint covers any row' : `signatures reach seq ${signedToSeq}`;
    return {
      ok: false,
      row: c.rows - unsignedRows + 1,
      seq: from,
      reason: `seq ${from}..${c.lastSeq} (${unsignedRows} rows) are covered by no signature: ${reach}${kind === 'csv' ? ' (a CSV carries none: verify the evidence pack)' : ''}`,
    };
  }
  if (strict && manifest === 'unsigned') {
    // Signed checkpoints prove the rows they cover, not that the pack holds every row it should: only the manifest's
    // signature does. Without it a pack cut after an earlier checkpoint (or emptied) would pass (a review found both).
    return {
      ok: false,
      row: null,
      seq: null,
      reason:
        `manifest.json is not signed${v1Unsigned ? ` (pack format ${PACK_FORMAT_V1})` : ''}: nothing proves the pack holds every row of its export — ` +
        'rows cut from its end, or all of them, would not show (--no-strict accepts it; the pack may then hide no row)',
    };
  }
  if (strict && kind === 'csv' && c.lastSeq === null) {
    return { ok: false, row: null, seq: null, reason: 'the CSV has no rows, and a CSV carries no signature: nothing proves what it should hold (verify the evidence pack)' };
  }
  // Last: rows cut from the end are named as such, not by the erasure event they took with them.
  try {
    c.finish();
  } catch (err) {
    if (err instanceof VerifyFailure) return err.failure;
    throw err;
  }
  return {
    ok: true,
    kind,
    tenant: c.tenant,
    rows: c.rows,
    redactedRows: c.redactedRows,
    firstSeq: c.firstSeq,
    lastSeq: c.lastSeq,
    head: c.head,
    start: c.start(),
    checkpoint,
    signedToSeq,
    unsignedRows,
    manifest,
    erasedSubjects: c.erasedSubjects,
    ...(since ? { extends: { seq: since.seq } } : {}),
  };
}

export function checkerFor(opts: FileVerifyOptions, tenant: string | null, pack?: Pick<CheckerOptions, 'filter' | 'noHidden'>): EvidenceChecker {
  if (opts.genesisTenant !== undefined && opts.prevChainHash !== undefined) throw new TypeError('give either a genesis tenant or a prev hash, not both');
  if (opts.prevChainHash !== undefined && !isHashHex(opts.prevChainHash)) throw new TypeError('the prev hash must be 64 lower-case hex characters');
  return new EvidenceChecker({
    tenant: opts.genesisTenant ?? tenant,
    prevChainHash: opts.prevChainHash,
    genesisRequired: opts.genesisTenant !== undefined,
    ...pack,
  });
}
