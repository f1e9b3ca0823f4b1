/**
 * A v4/v5 pack's rows, read from chain.txt (chain-lines.ts): every line through the checker, and events.csv
 * compared byte for byte with the CSV the lines derive, so every cell the CSV shows is proven without parsing
 * it. Where they differ, locateCsvMismatch reads both again to name the row.
 */
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { type EvidenceColumn } from './evidence-csv';
import { EvidenceChecker } from './evidence-checker';
import { PACK } from './evidence-pack';
import { csvRecord, MAX_RECORD_CHARS } from './csv-records';
import { CHAIN_LINE_FIELDS, recordOfLine } from './chain-lines';
import { type ChainBatchResult, checkChainBatch, csvOfCheckedRecord, parsedCanonical, textOfBytes } from './chain-batch';
import { RowPool } from './row-pool';
import type { RowRun } from './row-runs';
import { fileProblem, VerifyFailure } from './verify-result';

/** About this many bytes per batch (whole lines): large enough that a worker's round trip is noise. */
const BATCH_BYTES = 1 << 16;
/** No line of chain.txt comes near this (a record of events.csv is held to MAX_RECORD_CHARS UTF-16 units). */
const MAX_LINE_BYTES = MAX_RECORD_CHARS * 3;

/** Applies a checked batch in order; at its first failing line the checker names the problem. */
async function applyBatch(r: ChainBatchResult & { run?: RowRun }, bytes: Uint8Array, checker: EvidenceChecker, csv: CsvComparison, csvWidth: number): Promise<void> {
  checker.applyChecked(r, () => checkChainBatch(bytes, checker.config, csvWidth).facts);
  if (r.failAt < 0) {
    await csv.next(r.csv);
    return;
  }
  const text = textOfBytes(bytes);
  let from = 0;
  for (let i = 0; i < r.failAt; i++) from = text.indexOf('\n', from) + 1;
  const line = text.slice(from, text.indexOf('\n', from));
  const rowNo = checker.rows + 1;
  const doc = parsedCanonical(line);
  const record = recordOfLine(line, doc ?? null);
  if (!record) throw new VerifyFailure({ ok: false, row: rowNo, seq: null, reason: `${PACK.chain} line ${rowNo} is not ${CHAIN_LINE_FIELDS.length} tab-separated fields` });
  checker.row(record, doc);
  throw new Error(`row ${rowNo}: a check failed in the batch but not on its own`);
}

/**
 * Every line of chain.txt through the checker (in `pool`'s workers when given), and events.csv (`csv`) against
 * the CSV they derive in the header of `columns`: whether it differs. The main thread only cuts the bytes at
 * line ends and compares; decoding and everything per line happens where the batch is checked.
 */
export async function checkChainLines(chain: Readable, csv: Readable, checker: EvidenceChecker, columns: readonly EvidenceColumn[], pool: RowPool | null): Promise<boolean> {
  const cmp = new CsvComparison(csv);
  await cmp.next(Buffer.from(csvRecord(columns), 'utf8'));
  const cfg = checker.config;
  const csvWidth = columns.length;
  const inFlight: Array<{ bytes: Uint8Array; result: Promise<ChainBatchResult & { run?: RowRun }> }> = [];
  const settle = async () => {
    const { bytes, result } = inFlight.shift()!;
    await applyBatch(await result, bytes, checker, cmp, csvWidth);
  };
  const submit = async (bytes: Uint8Array) => {
    if (!pool) return applyBatch(checkChainBatch(bytes, cfg, csvWidth), bytes, checker, cmp, csvWidth);
    inFlight.push({ bytes, result: pool.run({ kind: 'chain', bytes, cfg, csvWidth }) });
    // A failure surfaces when its batch settles, in order; the others are awaited before the pool closes.
    inFlight[inFlight.length - 1].result.catch(() => undefined);
    if (inFlight.length >= pool.size * 2) await settle();
  };
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of chain) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    if (pending.length < BATCH_BYTES) continue;
    const end = pending.lastIndexOf(0x0a) + 1;
    if (end === 0 && pending.length > MAX_LINE_BYTES) {
      while (inFlight.length) await settle();
      fileProblem(`${PACK.chain} line ${checker.rows + 1} is too long`);
    }
    if (end === 0) continue;
    await submit(pending.subarray(0, end));
    pending = pending.subarray(end);
  }
  const end = pending.lastIndexOf(0x0a) + 1;
  if (end > 0) await submit(pending.subarray(0, end));
  while (inFlight.length) await settle();
  if (pending.length > end) fileProblem(`${PACK.chain} does not end with a line break`);
  return cmp.differs || !(await cmp.atEnd());
}

/** events.csv read alongside chain.txt: its next bytes compared with what the chain lines derive. */
class CsvComparison {
  private readonly it: AsyncIterator<Buffer>;
  private cur: Buffer = Buffer.alloc(0);
  private off = 0;
  /** A difference was found: nothing more is read. */
  differs = false;
  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** -1 when the file's next bytes are `expected`, else the offset in `expected` of the first byte that differs (or that the file lacks). */
  async next(bytes: Uint8Array): Promise<number> {
    if (this.differs) return 0;
    const at = await this.compare(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.differs = at >= 0;
    return at;
  }

  private async compare(expected: Buffer): Promise<number> {
    let at = 0;
    while (at < expected.length) {
      if (this.off >= this.cur.length) {
        const r = await this.it.next();
        if (r.done) return at;
        this.cur = r.value;
        this.off = 0;
        continue;
      }
      const n = Math.min(expected.length - at, this.cur.length - this.off);
      if (expected.compare(this.cur, this.off, this.off + n, at, at + n) !== 0) {
        let i = 0;
        while (expected[at + i] === this.cur[this.off + i]) i++;
        return at + i;
      }
      at += n;
      this.off += n;
    }
    return -1;
  }

  /** Whether the file ends here. */
  async atEnd(): Promise<boolean> {
    while (this.off >= this.cur.length) {
      const r = await this.it.next();
      if (r.done) return true;
      this.cur = r.value;
      this.off = 0;
    }
    return false;
  }
}

/**
 * The first row where events.csv is not the CSV that chain.txt's lines (all checked already) derive: row 0 for
 * the header, seq null where the CSV ends early or goes on; null when it is exactly that CSV.
 */
export async function locateCsvMismatch(chain: Readable, csv: Readable, columns: readonly EvidenceColumn[]): Promise<{ row: number; seq: number | null } | null> {
  const cmp = new CsvComparison(csv);
  if ((await cmp.next(Buffer.from(csvRecord(columns), 'utf8'))) >= 0) return { row: 0, seq: null };
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  let row = 0;
  for await (const chunk of chain) {
    buffered += decoder.write(chunk as Buffer);
    let from = 0;
    let nl: number;
    while ((nl = buffered.indexOf('\n', from)) >= 0) {
      const line = buffered.slice(from, nl);
      from = nl + 1;
      row++;
      const record = recordOfLine(line, parsedCanonical(line) ?? null)!;
      if ((await cmp.next(Buffer.from(csvOfCheckedRecord(record, columns.length), 'utf8'))) >= 0) return { row, seq: Number(line.slice(0, line.indexOf('\t'))) };
    }
    buffered = buffered.slice(from);
  }
  return (await cmp.atEnd()) ? null : { row: row + 1, seq: null };
}
