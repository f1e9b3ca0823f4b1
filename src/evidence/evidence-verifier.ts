/**
 * The offline verifier of CSV evidence exports and evidence packs (docs/audit-format.md, "Verifying an
 * export"). Streams: a batch of rows is held at a time, so a file of any size verifies in flat memory.
 * The rows go through evidence-checker.ts (row-checks.ts for each row on its own); a pack's zip is read by
 * pack-zip.ts, its checkpoints by pack-checkpoints.ts, its chain.txt by chain-file.ts.
 */
import { createHash, KeyObject, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { isHashHex } from '../audit/audit-format';
import { Checkpoint, checkpointSignatureValid, keyId, manifestSignatureValid } from './evidence-checkpoint';
import { EVIDENCE_COLUMNS, EVIDENCE_COLUMNS_V18 } from './evidence-csv';
import { PACK, PACK_FORMAT, PACK_FORMAT_V1, PACK_FORMAT_V2, PACK_FORMAT_V3, PACK_FORMAT_V4 } from './evidence-pack';
import { EvidenceChecker } from './evidence-checker';
import { checkChainLines, locateCsvMismatch } from './chain-file';
import { checkpointTimestamp, Manifest, PackCheckpoint, readCheckpoints } from './pack-checkpoints';
import { entryDigest, isZip, openLarge, openPiped, openZip, PIPED_PACK, readSmall, Sha256Tap, zipEntries } from './pack-zip';
import { RowPool, workersFor } from './row-pool';
import { checkerFor, checkSince, success } from './verify-outcome';
import { checkCsv } from './csv-file';
import { CheckpointOutcome, FileVerifyOptions, FileVerifyResult, fileProblem, VerifyFailure } from './verify-result';

export type { CheckpointOutcome, FileVerifyOptions, FileVerifyResult } from './verify-result';
export { EvidenceChecker } from './evidence-checker';
export { readEarlierCheckpoint } from './pack-checkpoints';

/** A CSV stream's rows, in `threads` workers (none: on the main thread). */
async function checkCsvWith(input: Readable, checker: EvidenceChecker, threads: number): Promise<void> {
  const pool = threads > 0 ? new RowPool(threads, checker.watchedSeqs()) : null;
  try {
    await checkCsv(input, checker, pool);
  } finally {
    await pool?.close();
  }
}

/** Verifies a bare CSV export read from `input` (in worker threads only when `opts.threads` asks: its size is not known). */
export async function verifyEvidenceCsv(input: Readable, opts: FileVerifyOptions = {}): Promise<FileVerifyResult> {
  const checker = checkerFor(opts, null);
  if (opts.since) checker.watchSeq(opts.since.seq);
  try {
    await checkCsvWith(input, checker, opts.threads ?? 0);
    if (opts.since) checkSince(checker, opts.since);
  } catch (err) {
    if (err instanceof VerifyFailure) return err.failure;
    throw err;
  }
  return success('csv', checker, { status: 'absent' }, 'none', opts.strict ?? false, opts.since);
}

function parseJson<T>(name: string, buf: Buffer): T {
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    return fileProblem(`${name} is not valid JSON`);
  }
}

/** What the pack's first files establish: its entries, manifest, key and whether the manifest is signed. */
interface PackHead {
  zf: yauzl.ZipFile;
  entries: Map<string, yauzl.Entry>;
  need: (name: string) => yauzl.Entry;
  manifest: Manifest;
  key: KeyObject | undefined;
  keySource: 'given' | 'pack';
  whose: () => string;
  manifestState: 'signed' | 'unsigned';
  /** v4 and later carry chain.txt. */
  v4: boolean;
  v3: boolean;
}

/** manifest.json, its format and tenant, the key that checks signatures, and the manifest's signature. */
async function openPack(zf: yauzl.ZipFile, opts: FileVerifyOptions): Promise<PackHead> {
  const entries = await zipEntries(zf);
  const need = (name: string) => entries.get(name) ?? fileProblem(`the pack has no ${name}`);
  const manifestBytes = await readSmall(zf, need(PACK.manifest));
  const manifest = parseJson<Manifest>(PACK.manifest, manifestBytes);
  if (![PACK_FORMAT, PACK_FORMAT_V4, PACK_FORMAT_V3, PACK_FORMAT_V2, PACK_FORMAT_V1].includes(manifest.format)) {
    fileProblem(`manifest.json format is ${JSON.stringify(manifest.format)}, expected ${PACK_FORMAT}`);
  }
  if (typeof manifest.tenant !== 'string' || !manifest.files || typeof manifest.files !== 'object') fileProblem('manifest.json is incomplete');
  if (opts.genesisTenant !== undefined && opts.genesisTenant !== manifest.tenant) {
    fileProblem(`the pack is for tenant ${JSON.stringify(manifest.tenant)}, not ${JSON.stringify(opts.genesisTenant)}`);
  }
  // One key checks both signatures: the one given on the command line, else the pack's own.
  let key = opts.publicKey;
  const keySource: 'given' | 'pack' = key ? 'given' : 'pack';
  if (!key && entries.has(PACK.publicKey)) {
    try {
      key = createPublicKey(await readSmall(zf, entries.get(PACK.publicKey)!));
    } catch {
      fileProblem(`${PACK.publicKey} is not a public key`);
    }
  }
  const whose = () => `the ${keySource === 'given' ? 'public key given' : "pack's public key"} (key id ${keyId(key!)})`;
  let manifestState: 'signed' | 'unsigned' = 'unsigned';
  const v4 = manifest.format === PACK_FORMAT || manifest.format === PACK_FORMAT_V4;
  const v3 = v4 || manifest.format === PACK_FORMAT_V3;
  const mustBeSigned = manifest.format === PACK_FORMAT_V2 || (v3 && manifest.manifestSigned !== false);
  if (mustBeSigned || entries.has(PACK.manifestSignature)) {
    const sig = entries.get(PACK.manifestSignature) ?? fileProblem(`the pack has no ${PACK.manifestSignature}: its manifest is not signed`);
    if (!key) fileProblem(`the pack has no ${PACK.publicKey}; pass --public-key`);
    if (!manifestSignatureValid(key!, manifest.tenant, manifestBytes, await readSmall(zf, sig))) {
      fileProblem(`the manifest signature does not verify with ${whose()}: manifest.json was changed after it was signed, or signed with another key`);
    }
    manifestState = 'signed';
  }
  return { zf, entries, need, manifest, key, keySource, whose, manifestState, v4, v3 };
}

/** Every listed file but the streamed ones against its digest, and no unlisted file that matters; the small ones kept. */
async function checkListedFiles(p: PackHead): Promise<Map<string, Buffer>> {
  const { manifest, zf, need } = p;
  if (!manifest.files[PACK.events]) fileProblem(`manifest.json lists no ${PACK.events}`);
  if (p.v3 && (manifest.rows ?? 0) > 0 && !manifest.files[PACK.checkpoints]) fileProblem(`manifest.json lists no ${PACK.checkpoints}`);
  // events.csv, chain.txt and checkpoints.jsonl are hashed while they stream, and so is report.html, which grows
  // with the pages in scope (megabytes over a large site) and is not read here.
  const small = new Map<string, Buffer>();
  for (const [name, f] of Object.entries(manifest.files)) {
    if (name === PACK.events || name === PACK.checkpoints || name === PACK.chain) continue;
    if (name === PACK.report) {
      if ((await entryDigest(zf, need(name))) !== f.sha256) fileProblem(`${name} does not match its SHA-256 in manifest.json`);
      continue;
    }
    const buf = await readSmall(zf, need(name));
    if (createHash('sha256').update(buf).digest('hex') !== f.sha256) fileProblem(`${name} does not match its SHA-256 in manifest.json`);
    small.set(name, buf);
  }
  for (const name of [PACK.checkpoints, PACK.checkpoint, PACK.chain, PACK.report]) {
    if (p.entries.has(name) && !manifest.files[name]) fileProblem(`the pack holds a ${name} that manifest.json does not list`);
  }
  // From v3 the manifest lists every file but itself and its signature: any other is one nobody vouched for (a
  // note telling the auditor what to run, say), so the pack is not the one exported.
  if (p.v3) {
    const own = new Set<string>([PACK.manifest, PACK.manifestMessage, PACK.manifestSignature]);
    for (const name of p.entries.keys()) {
      if (!own.has(name) && !name.endsWith('/') && !manifest.files[name]) fileProblem(`the pack holds ${JSON.stringify(name)}, which manifest.json does not list: a file nobody vouched for`);
    }
  }
  return small;
}

/** checkpoint.json and checkpoints.jsonl (v3), which must end with it. */
async function packCheckpoints(p: PackHead, small: Map<string, Buffer>, opts: FileVerifyOptions): Promise<{ checkpoint: Checkpoint | null; all: { list: PackCheckpoint[]; timestamped: number } | null }> {
  const { manifest } = p;
  let checkpoint: Checkpoint | null = null;
  const cpBuf = small.get(PACK.checkpoint);
  if (cpBuf) {
    checkpoint = parseJson<Checkpoint>(PACK.checkpoint, cpBuf);
    if (checkpoint.tenant !== manifest.tenant) fileProblem(`the checkpoint is for tenant ${JSON.stringify(checkpoint.tenant)}`);
    if (!Number.isSafeInteger(checkpoint.seq) || checkpoint.seq < 1 || !isHashHex(checkpoint.chainHash) || typeof checkpoint.signedAt !== 'string') {
      fileProblem('checkpoint.json is malformed');
    }
  }
  const all = manifest.files[PACK.checkpoints]
    ? await readCheckpoints(p.zf, p.need(PACK.checkpoints), { manifest, key: p.key, whose: p.whose, trusted: opts.tsaCertificatesPem })
    : null;
  if (all && checkpoint) {
    const last = all.list[all.list.length - 1];
    if (!last || last.seq !== checkpoint.seq || last.chainHash !== checkpoint.chainHash || last.signedAt !== checkpoint.signedAt) {
      fileProblem(`${PACK.checkpoints} does not end with the checkpoint in ${PACK.checkpoint}`);
    }
  }
  if (all && !checkpoint && all.list.length) fileProblem(`${PACK.checkpoints} lists checkpoints but the pack has no ${PACK.checkpoint}`);
  return { checkpoint, all };
}

/**
 * A v4/v5 pack's rows through chain.txt (proven row by row, its digest in the signed manifest), and events.csv,
 * which must be byte for byte the CSV the lines derive: every cell the CSV shows is then proven too. Where it
 * is not, both are read again to name the file or the row.
 */
async function chainRows(p: PackHead, checker: EvidenceChecker, opts: FileVerifyOptions): Promise<void> {
  const { zf, need, manifest } = p;
  const columns = manifest.format === PACK_FORMAT_V4 ? EVIDENCE_COLUMNS_V18 : EVIDENCE_COLUMNS;
  const chainEntry = need(PACK.chain);
  const eventsEntry = need(PACK.events);
  const chainTap = new Sha256Tap();
  const chain = await openLarge(zf, chainEntry);
  chain.on('error', (err) => chainTap.destroy(err));
  const csv = await openLarge(zf, eventsEntry);
  const threads = workersFor(chainEntry.uncompressedSize, opts.threads);
  const pool = threads > 0 ? new RowPool(threads, checker.watchedSeqs()) : null;
  let differs: boolean;
  try {
    differs = await checkChainLines(chain.pipe(chainTap), csv, checker, columns, pool);
  } finally {
    csv.destroy();
    chainTap.destroy();
    await pool?.close();
  }
  if (chainTap.hex !== manifest.files[PACK.chain].sha256) fileProblem(`${PACK.chain} does not match its SHA-256 in manifest.json`);
  if (!differs) return;
  // Say which file was changed: events.csv against its own digest first.
  if ((await entryDigest(zf, eventsEntry)) !== manifest.files[PACK.events].sha256) fileProblem(`${PACK.events} does not match its SHA-256 in manifest.json`);
  const mismatch = (await locateCsvMismatch(await openLarge(zf, chainEntry), await openLarge(zf, eventsEntry), columns)) ?? { row: checker.rows + 1, seq: null };
  const what =
    mismatch.row === 0
      ? 'the header row of events.csv is not the evidence CSV header'
      : mismatch.seq === null
        ? `events.csv does not end where ${PACK.chain} does (after row ${mismatch.row - 1})`
        : `row ${mismatch.row} (seq ${mismatch.seq}): events.csv does not show what ${PACK.chain} holds for this row`;
  throw new VerifyFailure({ ok: false, row: mismatch.row === 0 ? null : mismatch.row, seq: mismatch.seq, reason: `${what}: the two files disagree, though the manifest signs both` });
}

/** A pack's rows: through chain.txt (v4 and later), else (or with `--csv`) events.csv parsed as a bare CSV is. */
async function packRows(p: PackHead, checker: EvidenceChecker, opts: FileVerifyOptions): Promise<void> {
  const { zf, need, manifest } = p;
  const chainListed = manifest.files[PACK.chain];
  if (p.v4 && !chainListed) fileProblem(`manifest.json lists no ${PACK.chain}`);
  if (p.v4 && !opts.viaCsv) return chainRows(p, checker, opts);
  const tap = new Sha256Tap();
  const eventsEntry = need(PACK.events);
  const events = await openLarge(zf, eventsEntry);
  events.on('error', (err) => tap.destroy(err));
  await checkCsvWith(events.pipe(tap), checker, workersFor(eventsEntry.uncompressedSize, opts.threads));
  if (tap.hex !== manifest.files[PACK.events].sha256) fileProblem(`${PACK.events} does not match its SHA-256 in manifest.json`);
  if (chainListed && (await entryDigest(zf, need(PACK.chain))) !== chainListed.sha256) fileProblem(`${PACK.chain} does not match its SHA-256 in manifest.json`);
}

/** The manifest's row count, seq range and hidden rows against the rows read. */
function checkRowCounts(manifest: Manifest, checker: EvidenceChecker): void {
  if (manifest.rows !== checker.rows || manifest.firstSeq !== checker.firstSeq || manifest.lastSeq !== checker.lastSeq) {
    fileProblem(
      `manifest.json says ${manifest.rows} rows, seq ${manifest.firstSeq}..${manifest.lastSeq}; ${PACK.events} has ${checker.rows} rows, seq ${checker.firstSeq}..${checker.lastSeq}`,
    );
  }
  if (manifest.redactedRows !== undefined && manifest.redactedRows !== checker.redactedRows) {
    fileProblem(`manifest.json says ${manifest.redactedRows} rows are shown by hashes only; ${PACK.events} has ${checker.redactedRows}`);
  }
}

/**
 * The signed checkpoint against the rows: every checkpoint in range (v3), else the last one alone: its chain
 * hash at its seq, its signature, and no event it covers dated after it was signed.
 */
async function checkpointOutcome(
  p: PackHead,
  checker: EvidenceChecker,
  checkpoint: Checkpoint,
  all: { list: PackCheckpoint[]; timestamped: number } | null,
  opts: FileVerifyOptions,
): Promise<CheckpointOutcome> {
  if (checker.lastSeq === null || checker.lastSeq < checkpoint.seq) {
    throw new VerifyFailure({
      ok: false,
      row: checker.rows,
      seq: checker.lastSeq,
      reason: `the rows end at seq ${checker.lastSeq ?? 'none'} but the signed checkpoint is at seq ${checkpoint.seq}: rows are missing from the end`,
    });
  }
  if (checkpoint.seq < (checker.firstSeq ?? 0)) fileProblem(`the checkpoint (seq ${checkpoint.seq}) is before the first row (seq ${checker.firstSeq})`);
  if (!p.key) fileProblem(`the pack has a checkpoint but no ${PACK.publicKey}; pass --public-key`);
  for (const c of all ? all.list : [checkpoint]) {
    if (c.seq < checker.firstSeq! || c.seq > checker.lastSeq!) fileProblem(`${PACK.checkpoints} lists a checkpoint at seq ${c.seq}, outside the rows (seq ${checker.firstSeq}..${checker.lastSeq})`);
    const row = c.seq - checker.firstSeq! + 1;
    if (checker.chainHashSeen(c.seq) !== c.chainHash) {
      throw new VerifyFailure({ ok: false, row, seq: c.seq, reason: `row ${row} (seq ${c.seq}): chain_hash is not the one the checkpoint signed at ${c.signedAt} records` });
    }
    const lastAt = checker.latestAtUpTo(c.seq);
    if (lastAt !== null && Date.parse(lastAt) > Date.parse(c.signedAt)) {
      fileProblem(`an event up to seq ${c.seq} is dated ${lastAt}, after the checkpoint that covers it was signed (${c.signedAt})`);
    }
  }
  if (!all && !checkpointSignatureValid(checkpoint, p.key!)) {
    fileProblem(`the checkpoint signature (seq ${checkpoint.seq}) does not verify with ${p.whose()}`);
  }
  const timestamp = await checkpointTimestamp(p.zf, p.entries, p.manifest, checkpoint, opts.tsaCertificatesPem);
  const outcome: CheckpointOutcome = { status: 'verified', seq: checkpoint.seq, keyId: keyId(p.key!), keySource: p.keySource, timestamp };
  if (all) outcome.all = { count: all.list.length, timestamped: all.timestamped, timestampsChecked: !!opts.tsaCertificatesPem?.length };
  return outcome;
}

/** A pack once open: files, checkpoints, rows, then the verdict. */
async function verifyOpenPack(zf: yauzl.ZipFile, opts: FileVerifyOptions): Promise<FileVerifyResult> {
  const p = await openPack(zf, opts);
  const small = await checkListedFiles(p);
  const { checkpoint, all } = await packCheckpoints(p, small, opts);
  // A signed manifest vouches for its filter, so the rows must agree with it; an unsigned one may hide no row.
  let filter: { space: string | null; from: string | null; to: string | null } | null = null;
  const f = p.manifest.filters;
  if (p.manifestState === 'signed' && f && typeof f === 'object') {
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    filter = { space: str(f.space), from: str(f.from), to: str(f.to) };
  }
  const strict = opts.strict ?? true;
  // Whatever the mode: the summary of an unsigned pack says no row is hidden, so none may be.
  const checker = checkerFor(opts, p.manifest.tenant, { filter, noHidden: p.manifestState === 'unsigned' && p.manifest.format !== PACK_FORMAT_V1 });
  if (checkpoint) checker.watchSeq(checkpoint.seq);
  for (const c of all?.list ?? []) checker.watchSeq(c.seq);
  if (opts.since) checker.watchSeq(opts.since.seq);
  await packRows(p, checker, opts);
  checkRowCounts(p.manifest, checker);
  if (opts.since) checkSince(checker, opts.since);
  const v1Unsigned = p.manifestState === 'unsigned' && p.manifest.format === PACK_FORMAT_V1;
  const outcome: CheckpointOutcome = checkpoint ? await checkpointOutcome(p, checker, checkpoint, all, opts) : { status: 'absent' };
  const result = success('zip', checker, outcome, p.manifestState, strict, opts.since, v1Unsigned);
  // Which key the manifest's signature was checked with: the caller holds it to the pin as it does the checkpoint's.
  if (result.ok && p.manifestState === 'signed') result.manifestKey = { id: keyId(p.key!), source: p.keySource };
  return result;
}

/** Verifies an evidence pack (zip): file digests, manifest, every row, and the signed checkpoint. */
export async function verifyEvidencePack(file: string, opts: FileVerifyOptions = {}): Promise<FileVerifyResult> {
  let zf: yauzl.ZipFile;
  try {
    zf = await openZip(file);
  } catch (err) {
    return { ok: false, row: null, seq: null, reason: `the file is not a readable zip: ${(err as Error).message}` };
  }
  try {
    return await verifyOpenPack(zf, opts);
  } catch (err) {
    if (err instanceof VerifyFailure) return err.failure;
    throw err;
  } finally {
    zf.close();
  }
}

/** A zip is read as an evidence pack; anything else as CSV. */
export async function verifyEvidenceFile(file: string, opts: FileVerifyOptions = {}): Promise<FileVerifyResult> {
  const stat = await fs.promises.stat(file);
  if (!stat.isFile()) return verifyPiped(file, opts);
  if (await isZip(file)) return verifyEvidencePack(file, opts);
  const threads = workersFor(stat.size, opts.threads);
  return verifyEvidenceCsv(fs.createReadStream(file, { highWaterMark: 1 << 16 }), { ...opts, threads });
}

/**
 * FILE is a pipe (`curl … | attest verify /dev/stdin`, `<(…)`): a CSV is read front to back as from a file, in
 * workers as a large one would be (its size is not known); a pack cannot be, its directory being at its end.
 */
async function verifyPiped(file: string, opts: FileVerifyOptions): Promise<FileVerifyResult> {
  const { zip, input } = await openPiped(file);
  if (zip) {
    input.destroy();
    throw new Error(PIPED_PACK);
  }
  return verifyEvidenceCsv(input, { ...opts, threads: workersFor(Number.POSITIVE_INFINITY, opts.threads) });
}
