/** What the offline verifier takes and answers (docs/audit-format.md, "Verifying an export"). */
import type { KeyObject } from 'node:crypto';

export interface FileVerifyOptions {
  /** The chain must start at seq 1 from this tenant's genesis hash (`--genesis`). */
  genesisTenant?: string;
  /** The first row's prev_chain_hash must be this (`--prev`). */
  prevChainHash?: string;
  /** Verify the pack's checkpoint with this key instead of the pack's own (`--public-key`). */
  publicKey?: KeyObject;
  /**
   * Fail when any row is after the last signed checkpoint (or nothing is signed), or a pack's manifest is not
   * signed. Default: on for a pack, off for a bare CSV (which carries no signature of its own).
   */
  strict?: boolean;
  /** PEM certificates of the TSA the auditor trusts (`--tsa-cert`): the pack's checkpoint.tst is checked against them. */
  tsaCertificatesPem?: string[];
  /**
   * A checkpoint from an earlier pack (`--since OLD`): this file must extend it, holding the same chain hash at
   * its seq (or starting right after it from that hash). A fork after the earlier export fails.
   */
  since?: { seq: number; chainHash: string };
  /** A v4 pack: verify events.csv as a bare CSV is verified (every cell parsed and checked) instead of through chain.txt. */
  viaCsv?: boolean;
  /**
   * Worker threads for the per-row checks (`--threads`): 0 checks every row on the main thread; unset, a large
   * file gets one worker per core but one (at least 2, at most 3; none on one core) and a small one none (row-pool.ts).
   */
  threads?: number;
}

export interface CheckpointOutcome {
  status: 'verified' | 'absent';
  seq?: number;
  keyId?: string;
  /** Whose key verified it: the one given on the command line, or the one inside the pack. */
  keySource?: 'given' | 'pack';
  /** The TSA's time for the checkpoint: checked against a trusted certificate, present but unchecked, or none. */
  timestamp?: { status: 'verified'; genTime: string } | { status: 'unchecked' } | { status: 'absent' };
  /** Every checkpoint in the pack's range (checkpoints.jsonl, pack v3): how many, and how many carried a TSA token checked. */
  all?: { count: number; timestamped: number; timestampsChecked: boolean };
}

export type FileVerifyResult =
  | {
      ok: true;
      kind: 'csv' | 'zip';
      tenant: string | null;
      rows: number;
      redactedRows: number;
      firstSeq: number | null;
      lastSeq: number | null;
      /** Chain hash of the last row. */
      head: string | null;
      /** What anchors the first row: the tenant's genesis hash, a hash given, or nothing but the file itself. */
      start: 'genesis' | 'given' | 'unanchored' | 'none';
      checkpoint: CheckpointOutcome;
      /** The last seq a verified signature covers; null when none does. */
      signedToSeq: number | null;
      /** Rows after `signedToSeq` (all rows when nothing is signed): covered by no signature. */
      unsignedRows: number;
      /** A pack's manifest: signed and verified, or unsigned (a v1 pack, or the operator's CLI without the signing key). */
      manifest: 'signed' | 'unsigned' | 'none';
      /** The key a signed manifest was verified with (its id), given by the caller or the pack's own. */
      manifestKey?: { id: string; source: 'given' | 'pack' };
      /** Subjects shown blank, each explained by its `subject.erased` event in the file. */
      erasedSubjects: number;
      /** `--since`: the earlier checkpoint this file was shown to extend. */
      extends?: { seq: number };
    }
  | {
      ok: false;
      /** 1-based data row (header excluded); null for a problem with the file as a whole. */
      row: number | null;
      seq: number | null;
      reason: string;
    };

export type Failure = Extract<FileVerifyResult, { ok: false }>;

/** Thrown through the verifier's layers and turned into the failed result at the top. */
export class VerifyFailure extends Error {
  constructor(readonly failure: Failure) {
    super(failure.reason);
  }
}

/** A problem with the file as a whole (no row to name). */
export const fileProblem = (reason: string): never => {
  throw new VerifyFailure({ ok: false, row: null, seq: null, reason });
};
