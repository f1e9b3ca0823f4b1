/** The evidence export's shapes, shared by the service, its plan, its record stream and the pack writer. */
import type { KeyObject } from 'node:crypto';
import type { Checkpoint } from './evidence-checkpoint';
import type { EvidenceEvent } from './evidence-csv';
import type { AuditReads } from '../audit/audit-read-model';

export type EvidenceFormat = 'csv' | 'zip';

export interface EvidenceFilter {
  /** Null: the whole site. */
  spaceKey: string | null;
  /** Events recorded at or after `from` and before `to` (either may be null). */
  from: Date | null;
  to: Date | null;
}

export interface ExportSummary {
  tenant: string;
  rows: number;
  /** Rows outside the filter, written with hashes only. */
  redactedRows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpoint: Checkpoint | null;
  /**
   * Set when events after the last row exist in the range asked for but no checkpoint covers them (the chain
   * moved after the export signed its head, or it does not verify): the export ends at the checkpoint instead.
   */
  endedAtCheckpoint: { requestedToSeq: number } | null;
}

export interface ExportOptions {
  /** Aborting stops the query and the output (a client that went away). */
  signal?: AbortSignal;
  /** Called every `progressEvery` rows and at the end. */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
}

/** The contiguous seq range an export writes (evidence-plan.ts). */
export interface ExportPlan {
  fromSeq: number;
  toSeq: number;
  /** Rows after this seq (up to a later checkpoint) are outside the time filter. */
  contentToSeq: number;
  prevChainHash: string;
  checkpoint: Checkpoint | null;
  endedAtCheckpoint: ExportSummary['endedAtCheckpoint'];
}

/** The pack's report.html being built (src/report): fed the rows of the pack's own read, rendered at the end. */
export interface PackReport {
  /**
   * Every row the export reads for events.csv, before its filter hides any content; `parsed`: its canonical text
   * as parseCanonical read it, shared with the record (evidence-records.ts).
   */
  observe(e: EvidenceEvent, parsed?: unknown): void;
  /** Reads what the export's rows did not cover and renders the HTML. */
  finish(): Promise<string>;
}

/** Starts the SOC 2 report put in a pack as report.html, read from the export's snapshot (`store`). */
export type PackReportWriter = (
  store: AuditReads,
  req: { clientKey: string; spaceKey: string | null; from: Date | null; to: Date | null; contentToSeq: number; publicKey: KeyObject | null; generatedAt: Date },
  /** The rows the export reads (null: none), which the report takes instead of reading them again. */
  pass: { fromSeq: number; toSeq: number; contentToSeq: number } | null,
) => Promise<PackReport>;
