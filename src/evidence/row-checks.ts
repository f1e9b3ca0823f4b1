/**
 * The checks of one evidence row that need nothing but the row itself (and the signed filter): formats, the
 * row's own leaf and chain hashes, the canonical text's form, every display column, the subject link. The
 * checker (evidence-checker.ts) runs them in order between the checks that need the rows before; a worker
 * thread (verify-worker.ts) runs them alone and hands back a row's facts for those sequential checks.
 * Each returns the reason a row fails, or null.
 */
import { isHashHex } from '../audit/audit-format';
import { COL as COLUMNS, DERIVED_COLUMNS, EVIDENCE_COLUMNS, REDACTED_KEEP, writeDerivedCells } from './evidence-csv';
import { chainHashHex, isCanonicalForm, leafHashHex, subjectRefHex } from './verify-hashes';

/** Module-local copy: through tsx an imported binding is a getter call per use, a few % of the verifier's time. */
const COL = { ...COLUMNS };

export type RowFilter = { space: string | null; from: string | null; to: string | null };

/** What the row checks need to know of the file: its width and what the signed manifest vouches for. */
export interface RowConfig {
  /** Columns of the file's header (17, 18 or 19). */
  width: number;
  /** The signed filter of a pack (null: none, or unsigned). */
  filter: RowFilter | null;
  /** The manifest is not signed: no row may be hidden. */
  noHidden: boolean;
}

/** What the sequential checks need of a row whose own checks all passed. */
export interface RowFacts {
  seq: number;
  prev: string;
  chain: string;
  /** Shown by hashes only. */
  hidden: boolean;
  tenant: string;
  /** The canonical `at` when it is a string. */
  at: string | null;
  erasure: boolean;
  /** A `subject.erased` event's ref. */
  erasedRef: string | null;
  /** An actor_ref shown without its person (not on an erasure). */
  blankRef: string | null;
}

const SEQ = /^[1-9]\d{0,15}$/;
const SALT_HEX = /^[0-9a-f]{32}$/;
const DANGEROUS = new Set(['=', '+', '-', '@', '\t', '\r']);
/** The account id as it was before the spreadsheet-safety quote. */
const unquote = (cell: string) => (cell.length > 1 && cell[0] === "'" && DANGEROUS.has(cell[1]) ? cell.slice(1) : cell);

export function seqOf(record: readonly string[]): number | null {
  const cell = record[COL.seq] ?? '';
  return SEQ.test(cell) ? Number(cell) : null;
}

export function shapeProblem(record: readonly string[], width: number, seq: number | null): string | null {
  if (record.length !== width) return `has ${record.length} columns, expected ${width}`;
  if (seq === null) return `seq ${JSON.stringify(record[COL.seq] ?? '')} is not a positive whole number`;
  return null;
}

export function hashFormatProblem(record: readonly string[]): string | null {
  if (!isHashHex(record[COL.leaf_hash])) return 'leaf_hash is not 64 lower-case hex characters';
  if (!isHashHex(record[COL.prev_chain_hash])) return 'prev_chain_hash is not 64 lower-case hex characters';
  if (!isHashHex(record[COL.chain_hash])) return 'chain_hash is not 64 lower-case hex characters';
  return null;
}

export function chainProblem(record: readonly string[]): string | null {
  if (chainHashHex(record[COL.prev_chain_hash], record[COL.leaf_hash]) !== record[COL.chain_hash]) return 'chain_hash is not SHA-256(0x01 ‖ prev_chain_hash ‖ leaf_hash)';
  return null;
}

/** A row without canonical text: only the hashes, and only where the signed filter can hide it. */
export function hiddenRowProblem(record: readonly string[], cfg: RowConfig): string | null {
  const extra = EVIDENCE_COLUMNS.slice(0, cfg.width).find((c, i) => record[i] !== '' && !REDACTED_KEEP.includes(c));
  if (extra) return `a row without canonical text has a ${extra} value`;
  if (cfg.noHidden) return 'is shown by hashes only, but the manifest is not signed: nobody vouches that it is outside the export\'s filter';
  const f = cfg.filter;
  if (f && f.space === null && f.to === null) return 'is shown by hashes only, but the signed filter hides no row (no space, no end time)';
  return null;
}

/** The canonical text: its leaf hash, JSON object, RFC 8785 form, version, seq and tenant. The parsed object, or the reason. */
export function canonicalProblem(record: readonly string[], seq: number, parsed?: Record<string, unknown>): Record<string, unknown> | string {
  if (leafHashHex(record[COL.canonical]) !== record[COL.leaf_hash]) return 'leaf hash does not match canonical';
  return documentProblem(record, seq, parsed);
}

/** canonicalProblem after its leaf hash. */
function documentProblem(record: readonly string[], seq: number, parsed?: Record<string, unknown>, scanned?: boolean): Record<string, unknown> | string {
  const canonical = record[COL.canonical];
  let doc: Record<string, unknown>;
  try {
    doc = parsed ?? JSON.parse(canonical);
  } catch {
    return 'canonical is not valid JSON';
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'canonical is not a JSON object';
  if (!isCanonicalForm(doc, canonical, scanned)) return 'canonical is not in RFC 8785 form';
  if (doc.v !== 1) return `canonical has format version ${JSON.stringify(doc.v)}, expected 1`;
  if (doc.seq !== seq) return `canonical says seq ${JSON.stringify(doc.seq)}`;
  if (typeof doc.tenant !== 'string') return 'canonical has no tenant';
  return doc;
}

/** The display columns' places, and a row to derive them into, reused. */
const DERIVED_INDEXES = DERIVED_COLUMNS.map((c) => COL[c]);
const derived: string[] = new Array<string>(EVIDENCE_COLUMNS.length).fill('');

/** Every display column the file has against the canonical text (a legacy header lacks the trailing ones). */
export function derivedProblem(record: readonly string[], doc: Record<string, unknown>, width: number): string | null {
  writeDerivedCells(doc, derived);
  for (const i of DERIVED_INDEXES) {
    if (i < width && record[i] !== derived[i]) return `${EVIDENCE_COLUMNS[i]} column does not match canonical`;
  }
  return null;
}

/** A row shown in full must be inside the signed filter (erasures excepted: the caller skips them). */
export function filterProblem(doc: Record<string, unknown>, filter: RowFilter): string | null {
  if (filter.space !== null && doc.space !== filter.space) return `is shown in full but belongs to space ${JSON.stringify(doc.space ?? null)}, outside the signed filter (space ${filter.space})`;
  // A filter without times (most exports) needs no date read per row (1.9 % of a verifier worker's time).
  if (filter.from === null && filter.to === null) return null;
  const at = typeof doc.at === 'string' ? Date.parse(doc.at) : NaN;
  if (filter.from !== null && !(at >= Date.parse(filter.from))) return `is shown in full but was recorded at ${doc.at}, before the signed filter's start ${filter.from}`;
  if (filter.to !== null && !(at < Date.parse(filter.to))) return `is shown in full but was recorded at ${doc.at}, after the signed filter's end ${filter.to}`;
  return null;
}

/** The subject link: account and salt together, and actor_ref = SHA-256(salt ‖ account) where both are shown. */
export function subjectProblem(record: readonly string[]): string | null {
  const account = record[COL.actor_account_id];
  const salt = record[COL.actor_salt];
  if ((account === '') !== (salt === '')) return 'actor_account_id and actor_salt must both be present or both empty';
  if (account === '') return null;
  if (record[COL.actor_ref] === '') return 'actor_account_id given for an event without an actor_ref';
  if (!SALT_HEX.test(salt)) return 'actor_salt is not 32 lower-case hex characters';
  if (subjectRefHex(salt, unquote(account)) !== record[COL.actor_ref]) return 'actor_ref is not SHA-256(actor_salt ‖ actor_account_id)';
  return null;
}

export function erasedRefOf(doc: Record<string, unknown>): string | null {
  const ref = (doc.data as { ref?: unknown } | null | undefined)?.ref;
  return typeof ref === 'string' && ref ? ref : null;
}

/**
 * Every check of `record` that needs only the row, in the checker's order: its facts when all pass, null when
 * one fails (the checker then runs the row itself, to name the first problem as it always has). `leafHex` and
 * `scanned`: the leaf hash of its canonical text and the RFC 8785 scan's answer, when the caller already has them
 * (from the text's bytes, chain-batch.ts).
 */
export function rowFacts(record: readonly string[], cfg: RowConfig, parsed?: Record<string, unknown>, leafHex?: string, scanned?: boolean): RowFacts | null {
  const seq = seqOf(record);
  if (shapeProblem(record, cfg.width, seq) !== null) return null;
  const leaf = record[COL.leaf_hash];
  const prev = record[COL.prev_chain_hash];
  const chain = record[COL.chain_hash];
  const canonical = record[COL.canonical];
  // hashFormatProblem's tests where nothing else makes them: a hash equal to one computed here is 64 lower-case
  // hex already. The leaf hash is settled before chainHashHex reads it as hex.
  if (!isHashHex(prev)) return null;
  if (canonical === '' ? !isHashHex(leaf) : (leafHex ?? leafHashHex(canonical)) !== leaf) return null;
  if (chainHashHex(prev, leaf) !== chain) return null;
  if (canonical === '') {
    if (hiddenRowProblem(record, cfg) !== null) return null;
    return { seq: seq!, prev, chain, hidden: true, tenant: '', at: null, erasure: false, erasedRef: null, blankRef: null };
  }
  const doc = documentProblem(record, seq!, parsed, scanned);
  if (typeof doc === 'string') return null;
  if (!parsed && derivedProblem(record, doc, cfg.width) !== null) return null;
  const erasure = doc.action === 'subject.erased';
  if (!erasure && cfg.filter && filterProblem(doc, cfg.filter) !== null) return null;
  if (subjectProblem(record) !== null) return null;
  const ref = record[COL.actor_ref];
  return {
    seq: seq!,
    prev,
    chain,
    hidden: false,
    tenant: doc.tenant as string,
    at: typeof doc.at === 'string' ? doc.at : null,
    erasure,
    erasedRef: erasure ? erasedRefOf(doc) : null,
    blankRef: record[COL.actor_account_id] === '' && ref !== '' && !erasure ? ref : null,
  };
}
