/**
 * chain.txt, the evidence pack's line-per-event file (pack format v4 and later, docs/audit-format.md "Evidence pack"):
 * what the verifier reads by default, because a line is cheaper to read than a CSV record (the CSV must still be
 * inflated and compared: at 1M events that is not yet faster overall, bench/README.md), and from which every
 * cell of events.csv follows. One line per row of events.csv, in the same order, LF-terminated:
 *
 *   seq TAB leaf_hash TAB prev_chain_hash TAB chain_hash TAB actor_account_id TAB actor_salt TAB canonical LF
 *
 * Each field is the CSV cell of the same name. The canonical text comes last and as it is: RFC 8785 escapes
 * every control character, so a canonical text holds no raw line feed (the exporter refuses one that does:
 * it is not in RFC 8785 form) and tabs inside it are escaped too. The account cell is the only other free
 * text: backslash, tab, LF and CR in it are written `\\`, `\t`, `\n`, `\r`.
 */
import { COL as COLUMNS, EVIDENCE_COLUMNS, writeDerivedCells } from './evidence-csv';

/** Module-local copy: through tsx an imported binding is a getter call per use, a few % of the verifier's time. */
const COL = { ...COLUMNS };

export const CHAIN_LINE_FIELDS = ['seq', 'leaf_hash', 'prev_chain_hash', 'chain_hash', 'actor_account_id', 'actor_salt', 'canonical'] as const;

const ESCAPE = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const UNESCAPED: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };

function unescapeAccount(cell: string): string | null {
  let out = '';
  for (let i = 0; i < cell.length; i++) {
    const c = cell[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const u = UNESCAPED[cell[++i]];
    if (u === undefined) return null;
    out += u;
  }
  return out;
}

export class ChainLineError extends Error {}

/** The line of one CSV record (every column of EVIDENCE_COLUMNS). Throws when its canonical text holds a raw line feed. */
export function chainLine(record: readonly string[]): string {
  const canonical = record[COL.canonical];
  if (canonical.includes('\n')) throw new ChainLineError(`seq ${record[COL.seq]}: its canonical text holds a raw line feed, so it is not in RFC 8785 form`);
  const account = record[COL.actor_account_id];
  return `${record[COL.seq]}\t${record[COL.leaf_hash]}\t${record[COL.prev_chain_hash]}\t${record[COL.chain_hash]}\t${
    account.replace(ESCAPE, (c) => ESCAPED[c])
  }\t${record[COL.actor_salt]}\t${canonical}\n`;
}

/**
 * The CSV record a line stands for, with its display cells derived from `doc` (the canonical text as
 * JSON.parse read it; null for a row shown by hashes only): what events.csv must hold, byte for byte.
 * Null when the line does not have the seven fields, or its account cell has an escape that means nothing.
 */
export function recordOfLine(line: string, doc: Record<string, unknown> | null): string[] | null {
  const record: string[] = new Array(EVIDENCE_COLUMNS.length).fill('');
  let at = 0;
  for (let f = 0; f < 6; f++) {
    const tab = line.indexOf('\t', at);
    if (tab < 0) return null;
    const cell = line.slice(at, tab);
    switch (f) {
      case 0: record[COL.seq] = cell; break;
      case 1: record[COL.leaf_hash] = cell; break;
      case 2: record[COL.prev_chain_hash] = cell; break;
      case 3: record[COL.chain_hash] = cell; break;
      case 4: {
        const account = cell.includes('\\') ? unescapeAccount(cell) : cell;
        if (account === null) return null;
        record[COL.actor_account_id] = account;
        break;
      }
      case 5: record[COL.actor_salt] = cell; break;
    }
    at = tab + 1;
  }
  record[COL.canonical] = line.slice(at);
  if (doc) writeDerivedCells(doc, record);
  return record;
}

/** recordOfLine of a line given as its first six fields, each with its tab, and its canonical text. */
export function recordOfFields(fields: string, canonical: string, doc: Record<string, unknown> | null): string[] | null {
  const record = recordOfLine(fields, doc);
  if (record) record[COL.canonical] = canonical;
  return record;
}

/** The canonical text of a line (its last field), without splitting the rest; null without seven fields. */
export function canonicalOfLine(line: string): string | null {
  let at = 0;
  for (let f = 0; f < 6; f++) {
    const tab = line.indexOf('\t', at);
    if (tab < 0) return null;
    at = tab + 1;
  }
  return line.slice(at);
}
