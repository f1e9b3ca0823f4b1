/**
 * The CSV evidence export (docs/audit-format.md, "CSV evidence export"): its columns, how each display
 * cell follows from an event's canonical text, and the spreadsheet-safety rule. Pure: the exporter and
 * the offline verifier both use these functions, so they cannot drift apart.
 */

export const EVIDENCE_COLUMNS = [
  'seq',
  'recorded_at',
  'action',
  'space_key',
  'page_id',
  'page_title',
  'page_version',
  'workflow_id',
  'actor_ref',
  'actor_account_id',
  'actor_salt',
  'decision',
  'comment',
  'canonical',
  'leaf_hash',
  'prev_chain_hash',
  'chain_hash',
  'workflow_title',
  'stage',
] as const;

/** The 18-column header before `stage` was added (CSVs and v4 packs exported before 2026-12-03). */
export const EVIDENCE_COLUMNS_V18 = EVIDENCE_COLUMNS.slice(0, EVIDENCE_COLUMNS.indexOf('stage'));

/**
 * The header before `workflow_title` was added (packs of format v3 and earlier, CSVs exported before
 * 2026-12-02). The verifier still reads it; the columns it has mean the same.
 */
export const LEGACY_EVIDENCE_COLUMNS = EVIDENCE_COLUMNS.slice(0, EVIDENCE_COLUMNS.indexOf('workflow_title'));

export type EvidenceColumn = (typeof EVIDENCE_COLUMNS)[number];

export const COL = Object.fromEntries(EVIDENCE_COLUMNS.map((c, i) => [c, i])) as Record<EvidenceColumn, number>;

/** Columns kept in a row outside the export's filter: enough to prove the chain is complete. */
export const REDACTED_KEEP: readonly EvidenceColumn[] = ['seq', 'leaf_hash', 'prev_chain_hash', 'chain_hash'];

/** Display columns derived from the canonical text (everything but seq, the subject link, canonical and hashes). */
export const DERIVED_COLUMNS = [
  'recorded_at',
  'action',
  'space_key',
  'page_id',
  'page_title',
  'page_version',
  'workflow_id',
  'actor_ref',
  'decision',
  'comment',
  'workflow_title',
  'stage',
] as const satisfies readonly EvidenceColumn[];

const DANGEROUS_FIRST = new Set(['=', '+', '-', '@', '\t', '\r']);

/**
 * OWASP CSV injection guidance: a display cell that a spreadsheet could read as a formula gets a leading
 * single quote. Applied to display cells only; `canonical` and the hashes are never altered.
 */
export function neutralise(cell: string): string {
  return cell.length > 0 && DANGEROUS_FIRST.has(cell[0]) ? `'${cell}` : cell;
}

/** The parsed canonical object, as far as the display columns need it. */
interface CanonicalDoc {
  at?: unknown;
  action?: unknown;
  actor?: { ref?: unknown } | null;
  space?: unknown;
  page?: { id?: unknown; title?: unknown; version?: unknown } | null;
  workflow?: unknown;
  data?: Record<string, unknown> | null;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** A stage's place as the `stage` column shows it: "2 of 2"; empty unless both are whole numbers. */
function stageText(stage: unknown): string {
  if (!stage || typeof stage !== 'object') return '';
  const { position, count } = stage as { position?: unknown; count?: unknown };
  return Number.isInteger(position) && Number.isInteger(count) ? `${position as number} of ${count as number}` : '';
}

/**
 * Writes the derived display cells of one event (neutralised) into `row` at their columns. Each column is named in
 * the code, not looked up by a name held in a variable: the verifier does this for every row of a pack.
 */
export function writeDerivedCells(doc: CanonicalDoc, row: string[]): void {
  const page = doc.page && typeof doc.page === 'object' ? doc.page : null;
  const data = doc.data && typeof doc.data === 'object' ? doc.data : {};
  const actor = doc.actor && typeof doc.actor === 'object' ? doc.actor : null;
  row[COL.recorded_at] = neutralise(text(doc.at));
  row[COL.action] = neutralise(text(doc.action));
  row[COL.space_key] = neutralise(text(doc.space));
  row[COL.page_id] = neutralise(text(page?.id));
  row[COL.page_title] = neutralise(text(page?.title));
  row[COL.page_version] = neutralise(text(page?.version));
  row[COL.workflow_id] = neutralise(text(doc.workflow));
  row[COL.actor_ref] = neutralise(text(actor?.ref));
  row[COL.decision] = neutralise(typeof data.decision === 'string' ? data.decision : '');
  row[COL.comment] = neutralise(typeof data.comment === 'string' ? data.comment : '');
  row[COL.workflow_title] = neutralise(doc.workflow != null && typeof data.workflowTitle === 'string' ? data.workflowTitle : '');
  row[COL.stage] = neutralise(doc.workflow != null ? stageText(data.stage) : '');
}

/** One event as the exporter reads it from the chain. */
export interface EvidenceEvent {
  seq: number;
  /** Null: the row is outside the export's filter and is written with hashes only. */
  canonical: string | null;
  leafHash: string;
  chainHash: string;
  /** The subject link while it exists (null once the account was erased). */
  accountId: string | null;
  saltHex: string | null;
}

/** A canonical text as JSON.parse reads it; undefined when it is not JSON (the verifier names such a row). */
export function parseCanonical(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The CSV record of one event; `prevChainHash` is the chain hash of the row before; `parsed`: its canonical text
 * as parseCanonical read it, when the caller has it (the pack's report reads the same object).
 */
export function evidenceRecord(e: EvidenceEvent, prevChainHash: string, parsed?: unknown): string[] {
  const row: string[] = new Array(EVIDENCE_COLUMNS.length).fill('');
  row[COL.seq] = String(e.seq);
  row[COL.leaf_hash] = e.leafHash;
  row[COL.prev_chain_hash] = prevChainHash;
  row[COL.chain_hash] = e.chainHash;
  if (e.canonical === null) return row;
  // A damaged canonical is exported as it is stored, for the verifier to name: never hidden.
  const doc = (parsed !== undefined ? parsed : parseCanonical(e.canonical)) ?? {};
  writeDerivedCells(doc as CanonicalDoc, row);
  if (row[COL.actor_ref] && e.accountId && e.saltHex) {
    row[COL.actor_account_id] = neutralise(e.accountId);
    row[COL.actor_salt] = e.saltHex;
  }
  row[COL.canonical] = e.canonical;
  return row;
}

/**
 * csv-stringify options for RFC 4180 quoting, CRLF line ends and the header row: the reference that the
 * exporter's own record writer (csv-records.ts) is held to, byte for byte, and what tests write CSV with.
 */
export const CSV_STRINGIFY_OPTIONS = {
  header: true,
  columns: EVIDENCE_COLUMNS as unknown as string[],
  record_delimiter: 'windows' as const,
  // csv-stringify only quotes its own record delimiter (CRLF); a lone LF or CR in a comment must be quoted too.
  quoted_match: /[\r\n]/,
};
