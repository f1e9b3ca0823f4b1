/**
 * The evidence rows in order: what needs the rows before (seq continuity, the prev → chain links, the
 * genesis anchor, one tenant, time never going back, erasures explaining blank subjects, hidden rows only
 * where the filter hides them), around the checks of each row on its own (row-checks.ts).
 */
import { genesisHash } from '../audit/audit-format';
import { COL, EVIDENCE_COLUMNS, EVIDENCE_COLUMNS_V18, type EvidenceColumn, LEGACY_EVIDENCE_COLUMNS } from './evidence-csv';
import { fileProblem, VerifyFailure } from './verify-result';
import {
  canonicalProblem, chainProblem, derivedProblem, erasedRefOf, filterProblem, hashFormatProblem, hiddenRowProblem,
  type RowConfig, type RowFacts, type RowFilter, rowFacts, seqOf, shapeProblem, subjectProblem,
} from './row-checks';
import type { RowRun } from './row-runs';

export interface CheckerOptions {
  tenant?: string | null;
  prevChainHash?: string;
  genesisRequired?: boolean;
  /**
   * The signed filter of a pack: every full row (but erasures) must be inside it, and a row may be hidden
   * only where the filter hides it. Null: the manifest is unsigned, so no row may be hidden (`noHidden`).
   */
  filter?: RowFilter | null;
  noHidden?: boolean;
}

export class EvidenceChecker {
  tenant: string | null;
  rows = 0;
  redactedRows = 0;
  firstSeq: number | null = null;
  lastSeq: number | null = null;
  head: string | null = null;
  /** The first row's prev_chain_hash (what anchors it). */
  firstPrev: string | null = null;
  /** Chain hashes to remember (a checkpoint's seq) → the value seen. */
  private readonly watch = new Map<number, string | null>();
  /** The latest event time up to a watched seq: a checkpoint cannot be signed before the events it covers. */
  private readonly watchAt = new Map<number, string | null>();
  private prevAt: string | null = null;
  /** Row 1 has seq 1 but the tenant is not known yet: its genesis link is checked once it is. */
  private pendingGenesis: string | null = null;
  /** Refs shown without their person (erased) → the first seq showing one; an erasure event clears its ref. */
  private readonly blankRefs = new Map<string, number>();
  private readonly erasedRefs = new Set<string>();
  /** A row shown by hashes only, in a filter that hides only by time: every later full row must be an erasure. */
  private hiddenSince: number | null = null;
  /** The header the file has: today's, the one before `stage` was added (18 columns), or before `workflow_title` (17). */
  private columns: readonly EvidenceColumn[] = EVIDENCE_COLUMNS;

  constructor(private readonly opts: CheckerOptions = {}) {
    this.tenant = opts.tenant ?? null;
    this.config = this.rowConfig();
  }

  private rowConfig(): RowConfig {
    return { width: this.columns.length, filter: this.opts.filter ?? null, noHidden: !!this.opts.noHidden };
  }

  /** What a worker needs to check rows on its own (set again when the header says how wide the rows are). */
  config: RowConfig;

  get erasedSubjects(): number {
    return this.erasedRefs.size;
  }

  /** After the last row: every blank subject must be explained by a `subject.erased` event in the file. */
  finish(): void {
    for (const [ref, seq] of this.blankRefs) {
      if (this.erasedRefs.has(ref)) continue;
      const row = this.firstSeq === null ? null : seq - this.firstSeq + 1;
      throw new VerifyFailure({
        ok: false,
        row,
        seq,
        reason: `row ${row} (seq ${seq}): actor_ref ${ref} is shown without its person, but no subject.erased event for it is in the file: the link was removed without an erasure`,
      });
    }
  }

  watchSeq(seq: number): void {
    this.watch.set(seq, null);
  }

  /** The seqs watched, for the workers that check the rows (row-runs.ts). */
  watchedSeqs(): number[] {
    return [...this.watch.keys()];
  }

  chainHashSeen(seq: number): string | null {
    return this.watch.get(seq) ?? null;
  }

  /** The `at` of the last full row at or before the watched seq (null: only hash-only rows up to it). */
  latestAtUpTo(seq: number): string | null {
    return this.watchAt.get(seq) ?? null;
  }

  header(record: string[]): void {
    const known = [EVIDENCE_COLUMNS, EVIDENCE_COLUMNS_V18, LEGACY_EVIDENCE_COLUMNS].find((h) => record.length === h.length && record.every((c, i) => c === h[i]));
    if (!known) fileProblem(`the header row is not the evidence CSV header (expected: ${EVIDENCE_COLUMNS.join(',')})`);
    this.columns = known!;
    this.config = this.rowConfig();
  }

  /** How the first row is anchored, once every row is in. */
  start(): 'genesis' | 'given' | 'unanchored' | 'none' {
    if (this.rows === 0) return 'none';
    if (this.opts.prevChainHash !== undefined) return 'given';
    if (this.firstSeq === 1 && this.tenant !== null && this.pendingGenesis === null) return 'genesis';
    return 'unanchored';
  }

  /**
   * One row. `parsed`: the canonical text as the caller already read it with JSON.parse, the record's display
   * cells having been derived from it (a pack's chain.txt, whose CSV is then compared byte for byte).
   */
  row(record: string[], parsed?: Record<string, unknown>): void {
    const facts = rowFacts(record, this.config, parsed);
    if (facts) this.apply(facts);
    else this.rowInOrder(record, parsed);
  }

  /** A row whose own checks passed (rowFacts, maybe in a worker): the checks that need the rows before. */
  apply(f: RowFacts): void {
    const rowNo = this.rows + 1;
    this.checkSeq(rowNo, f.seq);
    this.checkLink(rowNo, f.seq, f.prev);
    if (f.hidden) {
      this.hiddenRow(f.seq);
    } else {
      this.checkTenant(rowNo, f.seq, f.tenant);
      this.checkAt(rowNo, f.seq, f.at);
      if (f.erasure) {
        if (f.erasedRef) this.erasedRefs.add(f.erasedRef);
      } else if (this.opts.filter) {
        this.checkHiddenBefore(rowNo, f.seq);
      }
      if (f.blankRef !== null && !this.blankRefs.has(f.blankRef)) this.blankRefs.set(f.blankRef, f.seq);
    }
    this.done(f.seq, f.prev, f.chain);
  }

  /**
   * A worker's answer for a batch: its facts, then its run when it has one. `recheck` checks the batch's rows again
   * on this thread, for when the run cannot be applied whole: they are then applied one by one.
   */
  applyChecked(r: { facts: RowFacts[]; run?: RowRun }, recheck: () => RowFacts[]): void {
    for (const f of r.facts) this.apply(f);
    if (!r.run || this.applyRun(r.run)) return;
    const rows = recheck().slice(r.facts.length, r.facts.length + r.run.n);
    if (rows.length !== r.run.n) throw new Error('a batch checked again on the main thread gave fewer rows than its worker');
    for (const f of rows) this.apply(f);
  }

  /**
   * The rows of a run (row-runs.ts), which agree among themselves: only what joins them to the rows before is
   * checked here. False, with nothing changed, when that is not enough to name a problem exactly (a tenant not known
   * yet, time going back, a full row after a row hidden by time): the caller then applies them one by one.
   */
  applyRun(r: RowRun): boolean {
    if (this.lastSeq === null || r.firstSeq !== this.lastSeq + 1 || r.firstPrev !== this.head) return false;
    if (r.tenant !== null && r.tenant !== this.tenant) return false;
    if (r.firstAt !== null && this.prevAt !== null && r.firstAt < this.prevAt) return false;
    if (this.hiddenSince !== null && r.fullNonErasure) return false;
    if (this.watch.size > 0 && !this.watchRun(r)) return false;
    const filter = this.opts.filter;
    if (r.firstHiddenSeq !== null && filter && filter.space === null && this.hiddenSince === null) this.hiddenSince = r.firstHiddenSeq;
    this.redactedRows += r.hidden;
    for (const ref of r.erasedRefs) this.erasedRefs.add(ref);
    for (const [ref, seq] of r.blankRefs) if (!this.blankRefs.has(ref)) this.blankRefs.set(ref, seq);
    if (r.lastAt !== null) this.prevAt = r.lastAt;
    this.lastSeq = r.firstSeq + r.n - 1;
    this.head = r.lastChain;
    this.rows += r.n;
    return true;
  }

  /** The chain hash and latest time at each watched seq in the run: false, with nothing set, if the run lacks one. */
  private watchRun(r: RowRun): boolean {
    const last = r.firstSeq + r.n - 1;
    let n = 0;
    for (let seq = r.firstSeq; seq <= last; seq++) if (this.watch.has(seq)) n++;
    if (r.watched.length !== n || r.watched.some(([seq]) => !this.watch.has(seq) || seq < r.firstSeq || seq > last)) return false;
    for (const [seq, chain, at] of r.watched) {
      this.watch.set(seq, chain);
      this.watchAt.set(seq, at ?? this.prevAt);
    }
    return true;
  }

  /** A failure of row `rowNo` (a method, not a closure per row: the verifier's hot path). */
  private bad(rowNo: number, seq: number | null, reason: string | null): void {
    if (reason !== null) throw new VerifyFailure({ ok: false, row: rowNo, seq, reason: `row ${rowNo}${seq !== null ? ` (seq ${seq})` : ''}: ${reason}` });
  }

  /** Every check of the row in the order that names its first problem (the path of a row that fails one). */
  private rowInOrder(record: string[], parsed?: Record<string, unknown>): void {
    const rowNo = this.rows + 1;
    const seq = seqOf(record);
    this.bad(rowNo, seq, shapeProblem(record, this.columns.length, seq));
    this.checkSeq(rowNo, seq!);
    this.bad(rowNo, seq, hashFormatProblem(record));
    this.checkLink(rowNo, seq!, record[COL.prev_chain_hash]);
    this.bad(rowNo, seq, chainProblem(record));
    if (record[COL.canonical] === '') {
      this.bad(rowNo, seq, hiddenRowProblem(record, this.config));
      this.hiddenRow(seq!);
    } else {
      this.fullRowInOrder(rowNo, seq!, record, parsed);
    }
    this.done(seq!, record[COL.prev_chain_hash], record[COL.chain_hash]);
  }

  private fullRowInOrder(rowNo: number, seq: number, record: string[], parsed?: Record<string, unknown>): void {
    const doc = canonicalProblem(record, seq, parsed);
    if (typeof doc === 'string') return this.bad(rowNo, seq, doc);
    this.checkTenant(rowNo, seq, doc.tenant as string);
    if (!parsed) this.bad(rowNo, seq, derivedProblem(record, doc, this.columns.length));
    this.checkAt(rowNo, seq, typeof doc.at === 'string' ? doc.at : null);
    const erasure = doc.action === 'subject.erased';
    const filter = this.opts.filter;
    if (erasure) {
      const ref = erasedRefOf(doc);
      if (ref) this.erasedRefs.add(ref);
    } else if (filter) {
      this.bad(rowNo, seq, filterProblem(doc, filter));
      this.checkHiddenBefore(rowNo, seq);
    }
    const ref = record[COL.actor_ref];
    if (record[COL.actor_account_id] === '' && ref !== '' && !this.blankRefs.has(ref) && !erasure) this.blankRefs.set(ref, seq);
    this.bad(rowNo, seq, subjectProblem(record));
  }

  private checkSeq(rowNo: number, seq: number): void {
    if (this.lastSeq !== null && seq !== this.lastSeq + 1) {
      this.bad(rowNo, seq, `expected seq ${this.lastSeq + 1}, found seq ${seq}: a row is ${seq > this.lastSeq + 1 ? 'missing' : 'repeated or out of order'}`);
    }
  }

  private checkLink(rowNo: number, seq: number, prev: string): void {
    if (this.head !== null) {
      if (prev !== this.head) this.bad(rowNo, seq, `prev_chain_hash is not the chain hash of seq ${seq - 1}`);
      return;
    }
    if (this.opts.prevChainHash !== undefined) {
      if (prev !== this.opts.prevChainHash) this.bad(rowNo, seq, 'prev_chain_hash is not the hash given with --prev');
      return;
    }
    if (this.opts.genesisRequired && seq !== 1) this.bad(rowNo, seq, 'the chain must start at seq 1 (--genesis)');
    if (seq !== 1) return;
    if (this.tenant === null) this.pendingGenesis = prev;
    else if (prev !== genesisHash(this.tenant).toString('hex')) this.bad(rowNo, seq, `prev_chain_hash is not the genesis hash of tenant ${this.tenant}`);
  }

  private hiddenRow(seq: number): void {
    const filter = this.opts.filter;
    if (filter && filter.space === null && this.hiddenSince === null) this.hiddenSince = seq;
    this.redactedRows++;
  }

  private checkTenant(rowNo: number, seq: number, tenant: string): void {
    if (this.tenant === null) {
      this.tenant = tenant;
      if (this.pendingGenesis !== null && this.pendingGenesis !== genesisHash(this.tenant).toString('hex')) {
        throw new VerifyFailure({ ok: false, row: 1, seq: 1, reason: `row 1 (seq 1): prev_chain_hash is not the genesis hash of tenant ${this.tenant}` });
      }
      this.pendingGenesis = null;
    } else if (tenant !== this.tenant) {
      this.bad(rowNo, seq, `canonical belongs to tenant ${JSON.stringify(tenant)}, not ${JSON.stringify(this.tenant)}`);
    }
  }

  private checkAt(rowNo: number, seq: number, at: string | null): void {
    if (at !== null && this.prevAt !== null && at < this.prevAt) this.bad(rowNo, seq, `at ${at} is before an earlier event's ${this.prevAt}`);
    if (at !== null) this.prevAt = at;
  }

  private checkHiddenBefore(rowNo: number, seq: number): void {
    if (this.hiddenSince !== null) {
      this.bad(rowNo, seq, `is shown in full after seq ${this.hiddenSince} was hidden, though the signed filter hides only by time: seq ${this.hiddenSince} is in range and was hidden`);
    }
  }

  private done(seq: number, prev: string, chain: string): void {
    if (this.firstPrev === null) this.firstPrev = prev;
    if (this.watch.has(seq)) {
      this.watch.set(seq, chain);
      this.watchAt.set(seq, this.prevAt);
    }
    if (this.firstSeq === null) this.firstSeq = seq;
    this.lastSeq = seq;
    this.head = chain;
    this.rows++;
  }
}
