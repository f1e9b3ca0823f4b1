/**
 * A batch of chain.txt lines checked on their own (row-checks.ts), on the main thread or in a worker
 * (verify-worker.ts): each line's facts for the sequential checks, and the events.csv text the lines derive.
 */
import { COL } from './evidence-csv';
import { csvField } from './csv-records';
import { canonicalOfLine, recordOfLine } from './chain-lines';
import { type RowConfig, type RowFacts, rowFacts } from './row-checks';

export interface ChainBatchResult {
  /** Facts of the lines before the first that failed a check of its own (all of them when none did). */
  facts: RowFacts[];
  /** Index of that line in the batch, or -1. */
  failAt: number;
  /** Its failure: not seven tab-separated fields, or a row check (which the checker then names). */
  failKind: 'line' | 'row' | null;
  /** UTF-8 of the CSV records of the lines in `facts`. */
  csv: Uint8Array;
}

/** The cells the checks held to digits and hex (seq, salt, hashes) need no quoting. */
const PLAIN = new Set<number>([COL.seq, COL.actor_salt, COL.leaf_hash, COL.prev_chain_hash, COL.chain_hash]);

/** csvRecord of a record whose plain cells were checked, cut to the file's width. */
export function csvOfCheckedRecord(record: string[], width: number): string {
  let out = record[0];
  for (let i = 1; i < width; i++) out += `,${PLAIN.has(i) ? record[i] : csvField(record[i])}`;
  return `${out}\r\n`;
}

/** The canonical text of a line as JSON.parse reads it, when it is an object (else the checker names the problem). */
export function parsedCanonical(line: string): Record<string, unknown> | undefined {
  const text = canonicalOfLine(line);
  if (!text) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // Named by the checker, after the leaf hash, as for a CSV row.
  }
  return undefined;
}

/** Room to encode a batch in, reused: 3 bytes per UTF-16 unit at worst. */
let scratch = Buffer.alloc(0);

/**
 * UTF-8 of `parts` in a buffer of its own, so a worker can hand it over without a copy. One pass into the
 * scratch buffer, then one copy: measuring first, or joining the parts, costs several times more.
 */
function utf8(parts: string[]): Uint8Array {
  let units = 0;
  for (const p of parts) units += p.length;
  if (scratch.length < units * 3) scratch = Buffer.allocUnsafeSlow(units * 3);
  let at = 0;
  for (const p of parts) at += scratch.write(p, at, 'utf8');
  return new Uint8Array(scratch.subarray(0, at));
}

/** `text`: whole lines, each ending in LF; `csvWidth`: the columns of the pack's events.csv (18 in a v4 pack). */
export function checkChainBatch(text: string, cfg: RowConfig, csvWidth: number): ChainBatchResult {
  const facts: RowFacts[] = [];
  const csv: string[] = [];
  let from = 0;
  let nl: number;
  while ((nl = text.indexOf('\n', from)) >= 0) {
    const line = text.slice(from, nl);
    from = nl + 1;
    const doc = parsedCanonical(line);
    const record = recordOfLine(line, doc ?? null);
    if (!record) return { facts, failAt: facts.length, failKind: 'line', csv: utf8(csv) };
    const f = rowFacts(record, cfg, doc);
    if (!f) return { facts, failAt: facts.length, failKind: 'row', csv: utf8(csv) };
    facts.push(f);
    csv.push(csvOfCheckedRecord(record, csvWidth));
  }
  return { facts, failAt: -1, failKind: null, csv: utf8(csv) };
}
