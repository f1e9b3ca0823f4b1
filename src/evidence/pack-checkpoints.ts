/** A pack's manifest and signed checkpoints: checkpoints.jsonl, checkpoint.tst, and an earlier pack's checkpoint (`--since`). */
import { createPublicKey, KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import yauzl from 'yauzl';
import { isHashHex } from '../audit/audit-format';
import { verifyCheckpointStamp } from '../audit/witness/timestamp';
import { Checkpoint, checkpointMessage, checkpointSignatureValid, keyId } from './evidence-checkpoint';
import { PACK } from './evidence-pack';
import { isZip, MAX_SMALL_ENTRY, openPiped, openZip, PIPED_PACK, readSmall, Sha256Tap, zipEntries } from './pack-zip';
import { CheckpointOutcome, fileProblem, VerifyFailure } from './verify-result';

export interface Manifest {
  format: string;
  tenant: string;
  rows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpoint: { seq: number } | null;
  files: Record<string, { sha256: string; bytes: number }>;
  redactedRows?: number;
  filters?: { space?: unknown; from?: unknown; to?: unknown } | null;
  /** v3: false when the operator's CLI wrote the pack without the signing key. */
  manifestSigned?: boolean;
  /** v3: how many lines checkpoints.jsonl holds. */
  checkpoints?: number;
}

/** One line of checkpoints.jsonl. */
export interface PackCheckpoint {
  seq: number;
  chainHash: string;
  signedAt: string;
  keyId: string;
  signature: string;
  timestampToken: string | null;
}

const MAX_CHECKPOINT_LINE = 64 * 1024;

/** What checking checkpoints.jsonl needs: the manifest's tenant, the key and how to name it, the trusted TSA certificates. */
interface CheckpointContext {
  manifest: Manifest;
  key: KeyObject | undefined;
  whose: () => string;
  trusted: string[] | undefined;
}

/** One line of checkpoints.jsonl against the one before it (see readCheckpoints). */
function checkCheckpointLine(line: string, lineNo: number, prev: PackCheckpoint | undefined, timestamped: number, ctx: CheckpointContext): { kept: PackCheckpoint; stamped: boolean } {
  const where = `${PACK.checkpoints} line ${lineNo}`;
  if (line.length > MAX_CHECKPOINT_LINE) fileProblem(`${where} is too long`);
  let c: PackCheckpoint;
  try {
    c = JSON.parse(line) as PackCheckpoint;
  } catch {
    return fileProblem(`${where} is not valid JSON`);
  }
  if (
    !c || typeof c !== 'object' || !Number.isSafeInteger(c.seq) || c.seq < 1 || !isHashHex(c.chainHash) || typeof c.signedAt !== 'string' ||
    Number.isNaN(Date.parse(c.signedAt)) || typeof c.signature !== 'string' || typeof c.keyId !== 'string' ||
    (c.timestampToken !== null && typeof c.timestampToken !== 'string')
  ) {
    fileProblem(`${where} is not a checkpoint`);
  }
  if (prev && c.seq <= prev.seq) fileProblem(`${where}: seq ${c.seq} does not follow seq ${prev.seq}`);
  if (prev && Date.parse(c.signedAt) <= Date.parse(prev.signedAt)) {
    fileProblem(`${where}: the checkpoint at seq ${c.seq} was signed at ${c.signedAt}, not after the one at seq ${prev.seq} (${prev.signedAt}): a checkpoint was backdated`);
  }
  if (!ctx.key) fileProblem(`the pack has checkpoints but no ${PACK.publicKey}; pass --public-key`);
  const full: Checkpoint = { tenant: ctx.manifest.tenant, seq: c.seq, chainHash: c.chainHash, signedAt: c.signedAt, signature: c.signature, keyId: c.keyId };
  if (!checkpointSignatureValid(full, ctx.key!)) fileProblem(`the checkpoint signature (seq ${c.seq}) does not verify with ${ctx.whose()}`);
  if (c.timestampToken) {
    if (ctx.trusted?.length) checkStamp(`the checkpoint at seq ${c.seq}`, c.timestampToken, full, ctx.trusted);
  } else if (ctx.trusted?.length && timestamped > 0) {
    fileProblem(`the checkpoint at seq ${c.seq} carries no TSA token though an earlier one does: it was signed around the timestamp authority`);
  }
  return { kept: { ...c, signature: '', timestampToken: null }, stamped: !!c.timestampToken };
}

/**
 * checkpoints.jsonl, streamed: each line's form, seq and signedAt strictly increasing, the tenant's key id and
 * signature, and with trusted TSA certificates each token (no later checkpoint unstamped once one was: a
 * witness outage delays checkpoints, it never lets one be signed around the TSA). Keeps seq, chain hash and
 * signedAt of each for the rows to be checked against.
 */
export async function readCheckpoints(zf: yauzl.ZipFile, entry: yauzl.Entry, ctx: CheckpointContext): Promise<{ list: PackCheckpoint[]; timestamped: number }> {
  const tap = new Sha256Tap();
  const stream = await zf.openReadStreamPromise(entry);
  stream.on('error', (err) => tap.destroy(err));
  const list: PackCheckpoint[] = [];
  let timestamped = 0;
  let buffered = '';
  const handle = (line: string) => {
    const { kept, stamped } = checkCheckpointLine(line, list.length + 1, list[list.length - 1], timestamped, ctx);
    list.push(kept);
    if (stamped) timestamped++;
  };
  const decoder = new StringDecoder('utf8');
  for await (const chunk of stream.pipe(tap)) {
    buffered += decoder.write(chunk as Buffer);
    if (buffered.length > MAX_CHECKPOINT_LINE * 2 && !buffered.includes('\n')) fileProblem(`${PACK.checkpoints} line ${list.length + 1} is too long`);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  buffered += decoder.end();
  if (buffered !== '') fileProblem(`${PACK.checkpoints} does not end with a line break`);
  if (tap.hex !== ctx.manifest.files[PACK.checkpoints].sha256) fileProblem(`${PACK.checkpoints} does not match its SHA-256 in manifest.json`);
  if (ctx.manifest.checkpoints !== undefined && ctx.manifest.checkpoints !== list.length) {
    fileProblem(`manifest.json says ${ctx.manifest.checkpoints} checkpoints; ${PACK.checkpoints} has ${list.length}`);
  }
  return { list, timestamped };
}
/** A checkpoint's TSA token (verifyCheckpointStamp); a failure names the checkpoint. */
export function checkStamp(what: string, tokenBase64: string, c: Checkpoint, trusted: string[]): Date {
  try {
    return verifyCheckpointStamp(tokenBase64, checkpointMessage(c), c.signedAt, trusted).genTime;
  } catch (err) {
    return fileProblem(`${what}: its TSA token: ${(err as Error).message}`);
  }
}

/**
 * The TSA's token for the pack's checkpoint (checkpoint.tst, listed and so signed in the manifest): with a
 * trusted TSA certificate it must stamp SHA-256(checkpoint.msg) no earlier than the checkpoint's signedAt.
 */
export async function checkpointTimestamp(
  zf: yauzl.ZipFile,
  entries: Map<string, yauzl.Entry>,
  manifest: Manifest,
  checkpoint: Checkpoint,
  trusted: string[] | undefined,
): Promise<NonNullable<CheckpointOutcome['timestamp']>> {
  const entry = entries.get(PACK.checkpointTimestamp);
  if (!entry) return { status: 'absent' };
  if (!manifest.files[PACK.checkpointTimestamp]) fileProblem(`the pack holds a ${PACK.checkpointTimestamp} that manifest.json does not list`);
  if (!trusted?.length) return { status: 'unchecked' };
  const token = (await readSmall(zf, entry)).toString('base64');
  const genTime = checkStamp('the checkpoint', token, checkpoint, trusted);
  return { status: 'verified', genTime: genTime.toISOString() };
}

/** A checkpoint.json read from a pipe (read once, front to back); an earlier pack cannot be (see openPiped). */
async function readPipedCheckpoint(file: string): Promise<Buffer | { problem: string }> {
  const { zip, input } = await openPiped(file);
  const parts: Buffer[] = [];
  let size = 0;
  try {
    if (zip) return { problem: `${file}: ${PIPED_PACK} Or give its ${PACK.checkpoint}.` };
    for await (const c of input) {
      parts.push(c as Buffer);
      size += (c as Buffer).length;
      if (size > MAX_SMALL_ENTRY) return { problem: `${file} is too large for a checkpoint` };
    }
  } finally {
    input.destroy();
  }
  return Buffer.concat(parts);
}

/**
 * The signed checkpoint of an earlier pack (its checkpoint.json) or a checkpoint.json on its own, for
 * `--since`: its signature must verify with `key` (the pinned key), else with the earlier pack's own key, whose
 * id is returned for the caller to hold against its pin.
 */
export async function readEarlierCheckpoint(file: string, key: KeyObject | undefined): Promise<{ checkpoint: Checkpoint; keyId: string } | { problem: string }> {
  let text: Buffer;
  let packKey: KeyObject | undefined;
  try {
    const stat = await fs.promises.stat(file);
    if (!stat.isFile()) {
      const piped = await readPipedCheckpoint(file);
      if (!Buffer.isBuffer(piped)) return piped;
      text = piped;
    } else if (await isZip(file)) {
      const zf = await openZip(file);
      try {
        const entries = await zipEntries(zf);
        const cp = entries.get(PACK.checkpoint);
        if (!cp) return { problem: `${file} holds no ${PACK.checkpoint}: nothing in it is signed` };
        text = await readSmall(zf, cp);
        const pem = entries.get(PACK.publicKey);
        if (pem) packKey = createPublicKey(await readSmall(zf, pem));
      } finally {
        zf.close();
      }
    } else {
      if (stat.size > MAX_SMALL_ENTRY) return { problem: `${file} is too large for a checkpoint` };
      text = await fs.promises.readFile(file);
    }
  } catch (err) {
    if (err instanceof VerifyFailure) return { problem: err.failure.reason };
    return { problem: `${file} cannot be read: ${(err as Error).message}` };
  }
  let c: Checkpoint;
  try {
    c = JSON.parse(text.toString('utf8')) as Checkpoint;
  } catch {
    return { problem: `${file}: its checkpoint is not valid JSON` };
  }
  if (!c || typeof c.tenant !== 'string' || !Number.isSafeInteger(c.seq) || c.seq < 1 || !isHashHex(c.chainHash) || typeof c.signedAt !== 'string' || typeof c.signature !== 'string') {
    return { problem: `${file}: its checkpoint is malformed` };
  }
  const verifyWith = key ?? packKey;
  if (!verifyWith) return { problem: `${file}: no key to check its checkpoint with (pass --public-key)` };
  if (!checkpointSignatureValid(c, verifyWith)) return { problem: `${file}: its checkpoint (seq ${c.seq}) does not verify with the ${key ? 'public key given' : "pack's own key"}` };
  return { checkpoint: c, keyId: keyId(verifyWith) };
}
