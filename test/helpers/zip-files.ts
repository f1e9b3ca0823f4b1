import fs from 'node:fs';
import yauzl from 'yauzl';
import yazl from 'yazl';

/** Every entry of a zip held in memory, by name (the tests take packs apart to alter them). */
export async function zipEntries(buf: Buffer): Promise<Map<string, Buffer>> {
  const zf = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.fromBuffer(buf, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z!))));
  const out = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zf.on('entry', async (entry: yauzl.Entry) => {
      const chunks: Buffer[] = [];
      for await (const c of await zf.openReadStreamPromise(entry)) chunks.push(c as Buffer);
      out.set(entry.fileName, Buffer.concat(chunks));
      zf.readEntry();
    });
    zf.on('end', resolve);
    zf.on('error', reject);
    zf.readEntry();
  });
  return out;
}

/** Writes `files` (name → bytes, in that order) as the zip `file`. */
export async function writeZipFile(files: Iterable<[string, Buffer]>, file: string): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const [name, bytes] of files) zip.addBuffer(bytes, name);
  zip.end();
  await new Promise<void>((resolve, reject) => zip.outputStream.pipe(fs.createWriteStream(file)).on('finish', resolve).on('error', reject));
}
