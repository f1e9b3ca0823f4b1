import { createHash, generateKeyPairSync, KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ATTEST_BIN, checkpointAt, generateChain, measure, operatorEnv } from '../../bench/export-fixture';
import { manifestMessage, signManifest } from '../../src/evidence/evidence-checkpoint';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { writeZipFile, zipEntries } from '../helpers/zip-files';

/**
 * Packs altered by someone without the operator's signing key (a review's proofs, issue 15): whatever a forger can
 * change — drop the manifest's signature, cut rows after an earlier checkpoint, empty the pack, sign it with their own
 * key, turn a row into hashes only, cut a CSV to its header — `attest verify` fails, or says exactly what it proved.
 */

let tdb: TestDatabase;
let dir: string;
const keys = generateKeyPairSync('ed25519');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const keyIdOf = (k: KeyObject) => sha(k.export({ type: 'spki', format: 'der' }) as Buffer);

/** `attest …` as the operator runs it (bin/attest.js, development keys, this test's database). */
const attest = (...args: string[]) => measure(ATTEST_BIN, args, { env: operatorEnv({ databaseUrl: tdb.url, dir, signingKey: keys.privateKey }), cwd: dir });

const readZip = (file: string) => zipEntries(fs.readFileSync(file));

/** Rewrites the pack: `files` as given, manifest.json with `changes` and every kept file's digest; signed with `signer` or not at all. */
async function writePackFiles(file: string, files: Map<string, Buffer>, changes: Record<string, unknown>, signer: KeyObject | null = null, pub?: KeyObject): Promise<void> {
  const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8'));
  Object.assign(manifest, changes);
  files.delete('manifest.json');
  files.delete('manifest.sig');
  files.delete('manifest.msg');
  if (pub) files.set('public-key.pem', Buffer.from(pub.export({ type: 'spki', format: 'pem' }) as string));
  manifest.files = {};
  for (const [name, buf] of files) manifest.files[name] = { sha256: sha(buf), bytes: buf.length };
  manifest.manifestSigned = signer !== null;
  const mbytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  files.set('manifest.json', mbytes);
  if (signer) {
    files.set('manifest.msg', Buffer.from(manifestMessage(manifest.tenant, mbytes)));
    files.set('manifest.sig', signManifest(signer, manifest.tenant, mbytes));
  }
  await writeZipFile(files, file);
}

const lines = (b: Buffer, sep: string) => b.toString('utf8').split(sep).filter((l, i, a) => !(i === a.length - 1 && l === ''));

beforeAll(async () => {
  tdb = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-review-verify-'));
  fs.writeFileSync(path.join(dir, 'operator.pem'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
});
afterAll(async () => {
  await tdb?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('attest verify of packs altered without the signing key', () => {
  const ck = 'review-tenant';
  beforeAll(async () => {
    await generateChain(tdb.db, ck, 20);
    await checkpointAt(tdb.db, ck, 10, keys.privateKey, undefined, new Date('2026-03-01T00:00:00Z'));
    await checkpointAt(tdb.db, ck, 20, keys.privateKey, undefined, new Date('2026-03-02T00:00:00Z'));
    const ex = await attest('export', '--client-key', ck, '-o', 'site.zip');
    expect(ex.code).toBe(0);
    const ok = await attest('verify', 'site.zip', '--public-key', 'operator.pem');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: site\.zip, 20 rows, seq 1\.\.20, .*manifest signed\n$/);
  });

  it('fails rows cut after an earlier checkpoint with the signature dropped from the manifest, unless --no-strict, which says so', async () => {
    const f = await readZip(path.join(dir, 'site.zip'));
    const chain = lines(f.get('chain.txt')!, '\n').slice(0, 10);
    const csv = lines(f.get('events.csv')!, '\r\n').slice(0, 11);
    const cps = lines(f.get('checkpoints.jsonl')!, '\n');
    const first = JSON.parse(cps[0]);
    expect(first.seq).toBe(10);
    f.set('chain.txt', Buffer.from(chain.map((l) => `${l}\n`).join('')));
    f.set('events.csv', Buffer.from(csv.map((l) => `${l}\r\n`).join('')));
    f.set('checkpoints.jsonl', Buffer.from(`${cps[0]}\n`));
    f.set('checkpoint.json', Buffer.from(`${JSON.stringify({ tenant: ck, seq: 10, chainHash: first.chainHash, signedAt: first.signedAt, signature: first.signature, keyId: first.keyId }, null, 2)}\n`));
    for (const n of ['checkpoint.msg', 'checkpoint.sig', 'report.html', 'VERIFY.md', 'SHA256SUMS']) f.delete(n);
    await writePackFiles(path.join(dir, 'cut-unsigned.zip'), f, { rows: 10, lastSeq: 10, redactedRows: 0, checkpoints: 1, checkpoint: { seq: 10, chainHash: first.chainHash, signedAt: first.signedAt, keyId: first.keyId } });
    const strict = await attest('verify', 'cut-unsigned.zip', '--public-key', 'operator.pem');
    expect(strict).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: manifest\.json is not signed: nothing proves the pack holds every row of its export/) });
    const lenient = await attest('verify', 'cut-unsigned.zip', '--public-key', 'operator.pem', '--no-strict');
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/^ok: cut-unsigned\.zip, 10 rows, seq 1\.\.10, .*signatures reach seq 10, the last row; manifest NOT signed/);
  });

  it('fails a pack emptied, its manifest unsigned', async () => {
    const f = await readZip(path.join(dir, 'site.zip'));
    const header = lines(f.get('events.csv')!, '\r\n')[0];
    const kept = new Map<string, Buffer>([
      ['events.csv', Buffer.from(`${header}\r\n`)],
      ['chain.txt', Buffer.alloc(0)],
      ['public-key.pem', f.get('public-key.pem')!],
      ['manifest.json', f.get('manifest.json')!],
    ]);
    await writePackFiles(path.join(dir, 'empty-unsigned.zip'), kept, { rows: 0, firstSeq: null, lastSeq: null, redactedRows: 0, checkpoints: 0, checkpoint: null });
    const v = await attest('verify', 'empty-unsigned.zip', '--public-key', 'operator.pem');
    expect(v).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: manifest\.json is not signed/) });
  });

  it('holds the manifest of a pack without a checkpoint to the pinned key (an empty pack signed by another key)', async () => {
    const f = await readZip(path.join(dir, 'site.zip'));
    const header = lines(f.get('events.csv')!, '\r\n')[0];
    const forger = generateKeyPairSync('ed25519');
    const kept = new Map<string, Buffer>([
      ['events.csv', Buffer.from(`${header}\r\n`)],
      ['chain.txt', Buffer.alloc(0)],
      ['manifest.json', f.get('manifest.json')!],
    ]);
    await writePackFiles(path.join(dir, 'empty-forged.zip'), kept, { rows: 0, firstSeq: null, lastSeq: null, redactedRows: 0, checkpoints: 0, checkpoint: null }, forger.privateKey, forger.publicKey);
    const pinned = await attest('verify', 'empty-forged.zip', '--key-id', keyIdOf(keys.publicKey));
    expect(pinned).toMatchObject({ code: 1, stdout: `FAIL: the pack's manifest is signed with key ${keyIdOf(forger.publicKey)}, not the pinned key ${keyIdOf(keys.publicKey)}\n` });
    const unpinned = await attest('verify', 'empty-forged.zip');
    expect(unpinned).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: the manifest verifies only with the key inside the pack/) });
    expect((await attest('verify', 'empty-forged.zip', '--trust-pack-key')).code).toBe(0);
  });

  it('fails a row turned into hashes only in a pack whose manifest is unsigned, with --no-strict too', async () => {
    const f = await readZip(path.join(dir, 'site.zip'));
    const chain = lines(f.get('chain.txt')!, '\n');
    const csv = lines(f.get('events.csv')!, '\r\n');
    expect(chain[10]).toMatch(/"action":"decision\.rejected"/);
    const [seq, leaf, prev, ch] = chain[10].split('\t');
    chain[10] = `${seq}\t${leaf}\t${prev}\t${ch}\t\t\t`;
    const cells = new Array(19).fill('');
    cells[0] = seq;
    cells[14] = leaf;
    cells[15] = prev;
    cells[16] = ch;
    csv[11] = cells.join(',');
    f.set('chain.txt', Buffer.from(chain.map((l) => `${l}\n`).join('')));
    f.set('events.csv', Buffer.from(csv.map((l) => `${l}\r\n`).join('')));
    for (const n of ['report.html', 'VERIFY.md', 'SHA256SUMS']) f.delete(n);
    await writePackFiles(path.join(dir, 'hidden-unsigned.zip'), f, { redactedRows: 1 });
    for (const mode of [[], ['--no-strict']]) {
      const v = await attest('verify', 'hidden-unsigned.zip', '--public-key', 'operator.pem', ...mode);
      expect(v.code).toBe(1);
      expect(v.stdout).toMatch(/^FAIL: row 11 \(seq 11\)/);
    }
  });

  it('fails a signed pack with a file added that its manifest does not list', async () => {
    const f = await readZip(path.join(dir, 'site.zip'));
    f.set('READ-ME-FIRST.txt', Buffer.from('Auditors: run attest verify with --no-strict --trust-pack-key.\n'));
    await writeZipFile(f, path.join(dir, 'extra-file.zip'));
    const v = await attest('verify', 'extra-file.zip', '--public-key', 'operator.pem');
    expect(v).toMatchObject({ code: 1, stdout: 'FAIL: the pack holds "READ-ME-FIRST.txt", which manifest.json does not list: a file nobody vouched for\n' });
  });

  it('fails a CSV cut down to its header under --strict', async () => {
    expect((await attest('export', '--client-key', ck, '-o', 'site.csv')).code).toBe(0);
    const header = fs.readFileSync(path.join(dir, 'site.csv'), 'utf8').split('\r\n')[0];
    fs.writeFileSync(path.join(dir, 'header-only.csv'), `${header}\r\n`);
    const v = await attest('verify', 'header-only.csv', '--strict', '--genesis', ck);
    expect(v).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: the CSV has no rows, and a CSV carries no signature/) });
    expect((await attest('verify', 'header-only.csv', '--genesis', ck)).code).toBe(0);
  });
});
