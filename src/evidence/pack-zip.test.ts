import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yazl from 'yazl';
import { entryDigest, openLarge, openPiped, openZip, zipEntries } from './pack-zip';

/** A zip of `files` written by yazl, as the exporter writes a pack. */
async function zipOf(file: string, files: Record<string, Buffer>, compress = true): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(files)) zip.addBuffer(data, name, { compress });
  zip.end();
  await new Promise<void>((resolve, reject) => zip.outputStream.pipe(fs.createWriteStream(file)).on('close', resolve).on('error', reject));
}

async function inflated(file: string, name: string): Promise<Buffer> {
  const zf = await openZip(file);
  try {
    const entry = (await zipEntries(zf)).get(name)!;
    const chunks: Buffer[] = [];
    for await (const c of await openLarge(zf, entry)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } finally {
    zf.close();
  }
}

/** Lines that deflate to several MiB (random hex: about half their size), so the entry is read in several pieces. */
const large = () => Buffer.from(Array.from({ length: 40_000 }, (_, i) => `${i}\t${randomBytes(96).toString('hex')}\n`).join(''));

describe("a pack's large entries", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-zip-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('inflate to exactly what was zipped, read a MiB at a time, beside an empty and a stored entry', async () => {
    const file = path.join(dir, 'ok.zip');
    const data = large();
    await zipOf(file, { 'chain.txt': data, 'empty.txt': Buffer.alloc(0) });
    expect(fs.statSync(file).size).toBeGreaterThan(3 << 20);
    expect((await inflated(file, 'chain.txt')).equals(data)).toBe(true);
    expect((await inflated(file, 'empty.txt')).length).toBe(0);
    const stored = path.join(dir, 'stored.zip');
    await zipOf(stored, { 'chain.txt': data }, false);
    expect((await inflated(stored, 'chain.txt')).equals(data)).toBe(true);
  });

  it('fail, without throwing past the stream, when the compressed bytes or the recorded size were changed', async () => {
    const file = path.join(dir, 'bad.zip');
    const data = large();
    await zipOf(file, { 'chain.txt': data });
    const bytes = fs.readFileSync(file);
    // A byte in the middle of the deflate stream: an inflate error, or other bytes than were zipped.
    const flipped = Buffer.from(bytes);
    flipped[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(file, flipped);
    const read = inflated(file, 'chain.txt').then((b) => b.equals(data), (err: Error) => err.message);
    expect(await read).not.toBe(true);
    // The central directory's uncompressed size one less: the entry inflates to more than its record.
    const resized = Buffer.from(bytes);
    const central = resized.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    resized.writeUInt32LE(resized.readUInt32LE(central + 24) - 1, central + 24);
    fs.writeFileSync(file, resized);
    await expect(inflated(file, 'chain.txt')).rejects.toThrow('inflates to more than its recorded size');
    const zf = await openZip(file);
    try {
      await expect(entryDigest(zf, (await zipEntries(zf)).get('chain.txt')!)).rejects.toThrow('recorded size');
    } finally {
      zf.close();
    }
  });
});

describe('openPiped: a file read once, front to back (a pipe)', () => {
  /** What openPiped makes of `pieces` written into a FIFO one by one, with a pause between them. */
  async function throughFifo(pieces: string[]): Promise<{ zip: boolean; bytes: string }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-piped-'));
    const fifo = path.join(dir, 'in');
    execFileSync('mkfifo', [fifo]);
    try {
      const writer = (async () => {
        const out = fs.createWriteStream(fifo);
        for (const p of pieces) {
          await new Promise<void>((resolve) => out.write(Buffer.from(p, 'latin1'), () => resolve()));
          await new Promise((r) => setTimeout(r, 20));
        }
        await new Promise<void>((resolve) => out.end(resolve));
      })();
      const { zip, input } = await openPiped(fifo);
      const chunks: Buffer[] = [];
      for await (const c of input) chunks.push(c as Buffer);
      await writer;
      return { zip, bytes: Buffer.concat(chunks).toString('latin1') };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it('tells a zip by its first four bytes however they arrive, and gives back every byte', async () => {
    expect(await throughFifo(['P', 'K', '\x03\x04', 'rest'])).toEqual({ zip: true, bytes: 'PK\x03\x04rest' });
    expect(await throughFifo(['PK\x05\x06'])).toEqual({ zip: true, bytes: 'PK\x05\x06' });
    expect(await throughFifo(['se', 'q,recorded_at\r\n', '1,2\r\n'])).toEqual({ zip: false, bytes: 'seq,recorded_at\r\n1,2\r\n' });
    expect(await throughFifo(['PK'])).toEqual({ zip: false, bytes: 'PK' });
    expect(await throughFifo([])).toEqual({ zip: false, bytes: '' });
  });
});
