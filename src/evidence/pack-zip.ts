/** Reading an evidence pack's zip: its entries, small files whole, large ones streamed (and hashed). */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import yauzl from 'yauzl';
import { fileProblem, VerifyFailure } from './verify-result';

export const MAX_SMALL_ENTRY = 1 << 20;

/** Digest of what flows through (the pack's events.csv against its manifest). */
export class Sha256Tap extends Transform {
  private readonly h = createHash('sha256');
  hex = '';
  _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.h.update(chunk);
    cb(null, chunk);
  }
  _flush(cb: TransformCallback): void {
    this.hex = this.h.digest('hex');
    cb();
  }
}

/** The file each open zip was read from: its large entries are read from it directly (rawData). */
const zipPaths = new WeakMap<yauzl.ZipFile, string>();

export function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (err, zf) => {
      if (err) return reject(err);
      zipPaths.set(zf!, file);
      resolve(zf!);
    }),
  );
}

/** Compressed bytes read per call: 1 MiB, where yauzl's reader reads 16 KiB (a read and an inflate call each). */
const RAW_READ_BYTES = 1 << 20;

/**
 * A deflated entry's compressed bytes. yauzl's own raw stream reads 16 KiB at a time, and each piece costs the
 * main thread a read on the thread pool, an inflate call and a pass through the streams: about a third of its
 * work in `attest verify` of a pack (bench/README.md "Verify, 2026-12-03"). Read here a MiB at a time from where
 * yauzl's check of the local header says the data starts (it also holds the data inside the file).
 */
async function rawData(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  const file = zipPaths.get(zf);
  // yauzl refuses an encrypted entry; a zip opened elsewhere has no path here.
  if (!file || entry.isEncrypted()) return zf.openReadStreamPromise(entry, { decompress: false });
  const { fileDataStart } = await zf.readLocalFileHeaderPromise(entry, { minimal: true });
  if (entry.compressedSize === 0) return Readable.from([]);
  return fs.createReadStream(file, { start: fileDataStart, end: fileDataStart + entry.compressedSize - 1, highWaterMark: RAW_READ_BYTES });
}

export async function zipEntries(zf: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  const entries = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zf.on('entry', (e: yauzl.Entry) => {
      if (entries.has(e.fileName)) reject(new VerifyFailure({ ok: false, row: null, seq: null, reason: `the pack holds ${e.fileName} twice` }));
      entries.set(e.fileName, e);
      zf.readEntry();
    });
    zf.on('end', () => resolve());
    zf.on('error', reject);
    zf.readEntry();
  });
  return entries;
}

export async function readSmall(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  if (entry.uncompressedSize > MAX_SMALL_ENTRY) fileProblem(`${entry.fileName} is too large`);
  const stream = await zf.openReadStreamPromise(entry);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A large entry, inflated in 256 KiB pieces (yauzl's own inflater hands back 16 KiB at a time, and the verifier
 * pays per piece). Its size is held to the zip's record, as yauzl does; its content to the manifest's digest.
 */
export async function openLarge(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  if (!entry.isCompressed()) return zf.openReadStreamPromise(entry);
  const raw = await rawData(zf, entry);
  const inflate = createInflateRaw({ chunkSize: 1 << 18 });
  let bytes = 0;
  const sized = new Transform({
    transform(chunk: Buffer, _e, cb) {
      bytes += chunk.length;
      if (bytes > entry.uncompressedSize) return cb(new Error(`${entry.fileName} inflates to more than its recorded size`));
      cb(null, chunk);
    },
    flush(cb) {
      cb(bytes === entry.uncompressedSize ? null : new Error(`${entry.fileName} inflates to ${bytes} bytes, not its recorded ${entry.uncompressedSize}`));
    },
  });
  raw.on('error', (err) => inflate.destroy(err));
  inflate.on('error', (err) => sized.destroy(err));
  return raw.pipe(inflate).pipe(sized);
}

/** SHA-256 of a zip entry of any size, streamed. */
export async function entryDigest(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<string> {
  const h = createHash('sha256');
  for await (const c of await openLarge(zf, entry)) h.update(c as Buffer);
  return h.digest('hex');
}

export function parseJson<T>(name: string, buf: Buffer): T {
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    return fileProblem(`${name} is not valid JSON`);
  }
}

/** A zip starts with a local file header ("PK\x03\x04", or an empty archive's end record "PK\x05\x06"). */
export function startsLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 0x03 && head[3] === 0x04) || (head[2] === 0x05 && head[3] === 0x06));
}

/** Whether the regular file `file` is a zip (read at offset 0: a pipe fails here with ESPIPE, see openPiped). */
export async function isZip(file: string): Promise<boolean> {
  const fd = await fs.promises.open(file, 'r');
  const magic = Buffer.alloc(4);
  try {
    await fd.read(magic, 0, 4, 0);
  } finally {
    await fd.close();
  }
  return startsLikeZip(magic);
}

/** Why a pack read from a pipe is refused. */
export const PIPED_PACK = 'a pack (zip) cannot be read from a pipe: its directory is at its end. Save it to a file and verify that file.';

/**
 * A file that can only be read once, front to back (a pipe, /dev/stdin from one, a shell's `<(…)`): whether its
 * first bytes are a zip's, and a stream of all its bytes, those first ones included. Nothing is sought.
 */
export async function openPiped(file: string): Promise<{ zip: boolean; input: Readable }> {
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 16 });
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  while (!ended && bytes < 4) {
    const r = await it.next();
    if (r.done) ended = true;
    else {
      head.push(r.value);
      bytes += r.value.length;
    }
  }
  const first = Buffer.concat(head);
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    for (let r = ended ? null : await it.next(); r && !r.done; r = await it.next()) yield r.value;
  }
  const input = Readable.from(all(), { objectMode: false });
  input.once('close', () => stream.destroy());
  return { zip: startsLikeZip(first), input };
}
