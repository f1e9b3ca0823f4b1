/**
 * The evidence pack (docs/audit-format.md, "Evidence pack"): a zip of events.csv, chain.txt, the checkpoints,
 * the SOC 2 report, VERIFY.md, SHA256SUMS and the manifest that lists them all, signed when the key is at hand.
 */
import { createPublicKey, KeyObject } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import type { Clock } from '../lib/clock';
import { ConflictError } from '../lib/errors';
import { sha256Hex } from '../lib/hash';
import { ChainLineError, chainLine } from './chain-lines';
import { csvRecord } from './csv-records';
import { Checkpoint, checkpointMessage, keyId, manifestMessage, publicKeyPem, signManifest } from './evidence-checkpoint';
import { EVIDENCE_COLUMNS } from './evidence-csv';
import { PACK, PACK_FORMAT, verifyGuide } from './evidence-pack';
import { Digest, exportRecords, textOf } from './evidence-records';
import type { AuditReads } from '../audit/audit-read-model';
import type { EvidenceFilter, ExportPlan, ExportSummary, PackReport, PackReportWriter } from './evidence-types';

export interface PackDeps {
  signingKey: KeyObject | null;
  publicKey?: KeyObject | null;
  clock: Clock;
  report?: PackReportWriter;
}

export interface PackJob {
  store: AuditReads;
  clientKey: string;
  filter: EvidenceFilter;
  plan: ExportPlan | null;
  summary: ExportSummary;
  /** The export's rows (read once, with `observe` handing each to the report). */
  records: (observe?: PackReport['observe']) => Readable;
  signal?: AbortSignal;
}

type Files = Record<string, { sha256: string; bytes: number }>;

/** One zip being written: its entries in order, each one's digest in `files` for SHA256SUMS and the manifest. */
class PackZip {
  readonly zip = new yazl.ZipFile();
  readonly files: Files = {};
  constructor(private readonly clock: Clock) {}

  add(name: string, content: string | Buffer): void {
    const buf = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    this.files[name] = { sha256: sha256Hex(buf), bytes: buf.length };
    this.zip.addBuffer(buf, name, { mtime: this.clock.now() });
  }

  /** Streams `source` (through `text`) into the entry `name` and records its digest; `level`: deflate's, else yazl's default. */
  async stream(name: string, source: Readable, text: Transform | null, signal: AbortSignal | undefined, level?: number): Promise<void> {
    const digest = new Digest({ hash: true });
    this.zip.addReadStream(digest, name, { mtime: this.clock.now(), ...(level === undefined ? {} : { compressionLevel: level }) });
    await (text ? pipeline(source, text, digest, { signal }) : pipeline(source, digest, { signal }));
    this.files[name] = { sha256: digest.hex, bytes: digest.bytes };
  }
}

/** Writes the pack of `job` to `out` (ended when done). */
export async function writePack(deps: PackDeps, job: PackJob, out: Writable): Promise<void> {
  const pack = new PackZip(deps.clock);
  const zipped = pipeline(pack.zip.outputStream, out, { signal: job.signal });
  try {
    await writeEntries(deps, job, pack);
    pack.zip.end();
    await zipped;
  } catch (err) {
    (pack.zip.outputStream as unknown as Readable).destroy(err as Error);
    await zipped.catch(() => undefined);
    throw err;
  }
}

async function writeEntries(deps: PackDeps, job: PackJob, pack: PackZip): Promise<void> {
  const { store, clientKey, filter, plan, summary, signal } = job;
  const publicKey = deps.publicKey ?? (deps.signingKey ? createPublicKey(deps.signingKey) : null);
  const pass = plan && { fromSeq: plan.fromSeq, toSeq: plan.toSeq, contentToSeq: plan.contentToSeq };
  const reportReq = { clientKey, spaceKey: filter.spaceKey, from: filter.from, to: filter.to, contentToSeq: plan?.contentToSeq ?? 0, publicKey, generatedAt: deps.clock.now() };
  const report = deps.report ? await deps.report(store, reportReq, pass) : null;
  // Level 1: most of a row is hex hashes, which deflate hardly shrinks; higher levels only cost time.
  const rows = job.records(report ? (e, parsed) => report.observe(e, parsed) : undefined);
  await pack.stream(PACK.events, rows, textOf(csvRecord, csvRecord(EVIDENCE_COLUMNS)), signal, 1);
  if (plan) await writeChain(job, pack);
  const cp = plan?.checkpoint ?? null;
  if (publicKey) pack.add(PACK.publicKey, publicKeyPem(publicKey));
  if (cp) addCheckpoint(pack, cp);
  const checkpointCount = plan && summary.firstSeq !== null ? await writeCheckpoints(job, pack) : 0;
  if (report) pack.add(PACK.report, await report.finish());
  pack.add(
    PACK.guide,
    verifyGuide({
      tenant: clientKey,
      checkpoint: cp,
      firstSeq: summary.firstSeq,
      lastSeq: summary.lastSeq,
      endedAtCheckpoint: summary.endedAtCheckpoint,
      manifestSigned: deps.signingKey !== null,
    }),
  );
  pack.add(PACK.sums, Object.entries(pack.files).map(([name, f]) => `${f.sha256}  ${name}\n`).join(''));
  addManifest(deps, job, pack, { publicKey, checkpointCount });
}

/**
 * chain.txt: the same rows again, read a second time in the same snapshot (a zip holds its entries one after the
 * other, and buffering a whole file of tenant data on disk is worse than a second read).
 */
async function writeChain(job: PackJob, pack: PackZip): Promise<void> {
  const { summary } = job;
  const again: ExportSummary = { ...summary, rows: 0, redactedRows: 0, firstSeq: null, lastSeq: null };
  try {
    await pack.stream(PACK.chain, exportRecords(job.store, job.clientKey, job.filter, job.plan!, again, {}), textOf(chainLine, ''), job.signal, 1);
  } catch (err) {
    if (err instanceof ChainLineError) throw new ConflictError(`${err.message}. No evidence pack can be exported until this is investigated (attest verify --db names the row).`);
    throw err;
  }
  if (again.rows !== summary.rows || again.lastSeq !== summary.lastSeq) throw new Error('the second read of the snapshot differs from the first');
}

function addCheckpoint(pack: PackZip, cp: Checkpoint): void {
  const { timestampToken, ...signed } = cp;
  pack.add(PACK.checkpoint, `${JSON.stringify(signed, null, 2)}\n`);
  pack.add(PACK.checkpointMessage, checkpointMessage(cp));
  pack.add(PACK.checkpointSignature, Buffer.from(cp.signature, 'base64'));
  if (timestampToken) pack.add(PACK.checkpointTimestamp, Buffer.from(timestampToken, 'base64'));
}

/** Every checkpoint the rows reach, with its TSA token: the verifier checks each against the chain. */
async function writeCheckpoints(job: PackJob, pack: PackZip): Promise<number> {
  const { store, clientKey } = job;
  const first = job.summary.firstSeq!;
  const last = job.summary.lastSeq!;
  let count = 0;
  async function* jsonl(): AsyncGenerator<string> {
    for await (const c of store.checkpointsIn(clientKey, first, last)) {
      count++;
      yield `${JSON.stringify({ seq: c.seq, chainHash: c.chainHash, signedAt: c.signedAt, keyId: c.keyId, signature: c.signature, timestampToken: c.timestampToken ?? null })}\n`;
    }
  }
  await pack.stream(PACK.checkpoints, Readable.from(jsonl()), null, job.signal);
  return count;
}

/** manifest.json lists every other file's digest; its signature (when the key is at hand) makes the whole pack tamper-evident. */
function addManifest(deps: PackDeps, job: PackJob, pack: PackZip, o: { publicKey: KeyObject | null; checkpointCount: number }): void {
  const { clientKey, filter, plan, summary } = job;
  const cp = plan?.checkpoint ?? null;
  const manifest = {
    format: PACK_FORMAT,
    auditFormat: 1,
    tenant: clientKey,
    filters: { space: filter.spaceKey, from: filter.from ? filter.from.toISOString() : null, to: filter.to ? filter.to.toISOString() : null },
    generatedAt: deps.clock.now().toISOString(),
    rows: summary.rows,
    redactedRows: summary.redactedRows,
    firstSeq: summary.firstSeq,
    lastSeq: summary.lastSeq,
    startPrevChainHash: plan?.prevChainHash ?? null,
    checkpoint: cp ? { seq: cp.seq, chainHash: cp.chainHash, signedAt: cp.signedAt, keyId: cp.keyId } : null,
    endedAtCheckpoint: summary.endedAtCheckpoint,
    checkpoints: o.checkpointCount,
    publicKeyId: o.publicKey ? keyId(o.publicKey) : null,
    manifestSigned: deps.signingKey !== null,
    files: pack.files,
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  pack.zip.addBuffer(manifestBytes, PACK.manifest, { mtime: deps.clock.now() });
  if (deps.signingKey) {
    pack.zip.addBuffer(Buffer.from(manifestMessage(clientKey, manifestBytes), 'utf8'), PACK.manifestMessage, { mtime: deps.clock.now() });
    pack.zip.addBuffer(signManifest(deps.signingKey, clientKey, manifestBytes), PACK.manifestSignature, { mtime: deps.clock.now() });
  }
}
