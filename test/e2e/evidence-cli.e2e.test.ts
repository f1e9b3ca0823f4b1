import { execFile, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';
import { ATTEST_BIN, checkpointAt as signedCheckpointAt, generateChain } from '../../bench/export-fixture';
import { main } from '../../src/cli';
import { createAuditLog } from '../../src/audit/audit-log';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/**
 * `attest export` and `attest verify FILE` as an operator and an auditor run them (node bin/attest.js).
 * The same code path with 1,000,000 rows is test/scale/evidence-scale.test.ts (`npm run test:scale`).
 */

let tdb: TestDatabase;
let dir: string;
const keys = generateKeyPairSync('ed25519');
const signingPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const env = () => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? dir,
  DATABASE_URL: tdb.url,
  ATTEST_SECRET_KEY: 'cd'.repeat(32),
  ATTEST_SIGNING_KEY: signingPem,
  DATA_DIR: path.join(dir, 'data'),
  NODE_ENV: 'development',
  DEVHOST: 'off',
});

function attest(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return attestWith({}, ...args);
}

/** The same with environment variables changed (undefined removes one). */
function attestWith(changes: Record<string, string | undefined>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ATTEST_BIN, ...args], { env: { ...env(), ...changes }, cwd: dir, timeout: 120_000, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A shell command line run in the test's directory, with $NODE and $BIN naming node and bin/attest.js (for pipes). */
function shell(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', line], { env: { ...env(), NODE: process.execPath, BIN: ATTEST_BIN }, cwd: dir, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function sh(cmd: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

async function unzipTo(file: string, into: string): Promise<void> {
  fs.mkdirSync(into, { recursive: true });
  const zf = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.open(file, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z!))));
  await new Promise<void>((resolve, reject) => {
    zf.on('entry', async (entry: yauzl.Entry) => {
      const s = await zf.openReadStreamPromise(entry);
      s.pipe(fs.createWriteStream(path.join(into, entry.fileName))).on('finish', () => zf.readEntry());
    });
    zf.on('end', resolve);
    zf.on('error', reject);
    zf.readEntry();
  });
}

const checkpointAt = (clientKey: string, seq: number) => signedCheckpointAt(tdb.db, clientKey, seq, keys.privateKey, 'cli-test');

beforeAll(async () => {
  tdb = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-evidence-cli-'));
});
afterAll(async () => {
  await tdb?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('attest export / attest verify FILE', () => {
  const ck = 'cli-evidence-tenant';
  beforeAll(async () => {
    await generateChain(tdb.db, ck, 300);
    await checkpointAt(ck, 300);
  });

  it('exports a CSV with a progress line on stderr, and verifies it (exit 0)', async () => {
    const ex = await attest('export', '--client-key', ck, '-o', 'site.csv');
    expect(ex.code).toBe(0);
    expect(ex.stderr).toMatch(/^export: done, 300 rows, seq 1\.\.300, checkpoint at seq 300 -> site\.csv$/m);
    const v = await attest('verify', 'site.csv', '--genesis', ck);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(
      new RegExp(`^ok: site\\.csv, 300 rows, seq 1\\.\\.300, head [0-9a-f]{64}; starts at the genesis hash of tenant ${ck}; no signed checkpoint; UNSIGNED: no signature covers seq 1\\.\\.300\\n$`),
    );
    expect(await attest('verify', 'site.csv', '--strict')).toMatchObject({
      code: 1,
      stdout: 'FAIL: seq 1..300 (300 rows) are covered by no signature: no signed checkpoint covers any row (a CSV carries none: verify the evidence pack)\n',
    });
  });

  it('ends a pack at the last witnessed checkpoint when the head is past it, and says so (issue 11 case 3, issue 19)', async () => {
    // The CLI has no witness (the tenant's Confluence, the TSA), so it signs nothing of its own: the server's
    // checkpoint job does. The pack ends at the last checkpoint and names the rows it leaves out.
    const tail = 'cli-tail-tenant';
    await generateChain(tdb.db, tail, 15);
    await checkpointAt(tail, 3);
    const ex = await attest('export', '--client-key', tail, '-o', 'tail.zip');
    expect(ex.code).toBe(0);
    expect(ex.stderr).toContain('export: ends at the last signed checkpoint (seq 3); seq 4..15 are not signed yet');
    expect(ex.stderr).toMatch(/export: done, 3 rows, seq 1\.\.3, checkpoint at seq 3 -> tail\.zip/);
    expect(await tdb.db('audit_checkpoints').where({ client_key: tail }).pluck('seq')).toEqual([3]);
    const v = await attest('verify', 'tail.zip', '--trust-pack-key');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/; checkpoint at seq 3 verified with the pack's own public key, accepted unpinned \(--trust-pack-key\) .*; signatures reach seq 3, the last row; manifest signed\n$/);
    expect((await attest('verify', 'tail.zip', '--strict', '--no-strict')).code).toBe(2);
  });

  it('exports with only the public key: the manifest is unsigned and hides no row; a one-space pack needs the private key (issue 19)', async () => {
    const ck2 = 'cli-public-only';
    await generateChain(tdb.db, ck2, 20);
    await checkpointAt(ck2, 12);
    fs.writeFileSync(path.join(dir, 'operator-pub.pem'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const noKey = { ATTEST_SIGNING_KEY: undefined, ATTEST_SECRET_KEY: undefined, NODE_ENV: 'production', AC_LOCAL_BASE_URL: 'https://attest.example.com' };
    const ex = await attestWith(noKey, 'export', '--client-key', ck2, '--public-key', 'operator-pub.pem', '--to', '2026-01-01T00:00:00.005Z', '-o', 'pub.zip');
    expect(ex).toMatchObject({ code: 0, stderr: expect.stringContaining('export: the manifest is not signed (ATTEST_SIGNING_KEY not set): attest verify fails the pack unless given --no-strict') });
    // Nothing proves an unsigned pack holds every row of its export: --strict (the default) fails it.
    const strict = await attest('verify', 'pub.zip', '--public-key', 'operator-pub.pem');
    expect(strict).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: manifest\.json is not signed/) });
    const v = await attest('verify', 'pub.zip', '--public-key', 'operator-pub.pem', '--no-strict');
    expect(v.code).toBe(0);
    // Rows after --to up to the checkpoint are shown in full, not hidden: nobody signed for what a hidden row is.
    expect(v.stdout).toMatch(/^ok: pub\.zip, 12 rows, seq 1\.\.12, .*; 1 checkpoint in range verified; signatures reach seq 12, the last row; manifest NOT signed \(its filters are the exporter's word; no row is hidden\)\n$/);
    const space = await attestWith(noKey, 'export', '--client-key', ck2, '--space', 'SEC', '-o', 'pub-sec.zip');
    expect(space.code).toBe(2);
    expect(space.stderr).toMatch(/a pack of one space hides the other spaces' rows, and only a manifest signed with the checkpoint key vouches for them/);
    // verify --db needs no key either: hashes and signatures, and it says the MACs were not checked.
    const db = await attestWith(noKey, 'verify', '--db', '--client-key', ck2, '--public-key', 'operator-pub.pem');
    expect(db).toMatchObject({ code: 0, stdout: expect.stringMatching(/MACs not checked \(ATTEST_SECRET_KEY not set\); 1 checkpoints match the chain and the pinned key/) });
  });

  it('attest verify NEW --since OLD proves NEW extends OLD, and fails a history forked after OLD was exported (issue 19)', async () => {
    const ck3 = 'cli-since-tenant';
    fs.writeFileSync(path.join(dir, 'operator-since.pem'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    await generateChain(tdb.db, ck3, 10);
    await checkpointAt(ck3, 10);
    expect((await attest('export', '--client-key', ck3, '-o', 'old.zip')).code).toBe(0);
    // The honest chain goes on: two more events (by the app, MACs and all) and a later checkpoint.
    const audit = createAuditLog(tdb.db, Buffer.from('cd'.repeat(32), 'hex'));
    for (let i = 0; i < 2; i++) {
      await tdb.db.transaction((trx) => audit.append(trx, ck3, { action: 'workflow.created', actor: { type: 'system' }, spaceKey: 'ENG', workflowId: 'wf-x', data: { macroId: 'm-x', config: { title: null, rule: 'all', quorum: null, rejections: 1, approvers: [], groups: [], due: null, reviewDays: null } } }));
    }
    await checkpointAt(ck3, 12);
    expect((await attest('export', '--client-key', ck3, '-o', 'new.zip')).code).toBe(0);
    const ok = await attest('verify', 'new.zip', '--since', 'old.zip', '--public-key', 'operator-since.pem');
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringMatching(/; extends the earlier checkpoint at seq 10\n$/) });
    // A checkpoint.json kept on its own does as well.
    await unzipTo(path.join(dir, 'old.zip'), path.join(dir, 'old'));
    expect((await attest('verify', 'new.zip', '--since', 'old/checkpoint.json', '--public-key', 'operator-since.pem')).code).toBe(0);
    // …also from a pipe; the earlier pack itself cannot be read from one (its directory is at its end).
    expect((await shell('cat old/checkpoint.json | "$NODE" "$BIN" verify new.zip --since /dev/stdin --public-key operator-since.pem')).code).toBe(0);
    expect(await shell('cat old.zip | "$NODE" "$BIN" verify new.zip --since /dev/stdin --public-key operator-since.pem')).toMatchObject({
      code: 1,
      stdout: 'FAIL: --since /dev/stdin: a pack (zip) cannot be read from a pipe: its directory is at its end. Save it to a file and verify that file. Or give its checkpoint.json.\n',
    });

    // A fork: the whole history replaced and signed again with the same key (as a server without witnesses could).
    await tdb.db.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica');
      for (const table of ['audit_checkpoints', 'audit_events', 'audit_heads', 'audit_subjects']) await trx(table).where({ client_key: ck3 }).delete();
    });
    await generateChain(tdb.db, ck3, 12);
    await checkpointAt(ck3, 12);
    expect((await attest('export', '--client-key', ck3, '-o', 'fork.zip')).code).toBe(0);
    // On its own the fork is self-consistent and signed…
    expect((await attest('verify', 'fork.zip', '--public-key', 'operator-since.pem')).code).toBe(0);
    // …against the pack the auditor kept, it is not.
    const forked = await attest('verify', 'fork.zip', '--since', 'old.zip', '--public-key', 'operator-since.pem');
    expect(forked).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: row 10 \(seq 10\): chain_hash is not the one the earlier checkpoint signed: the history was rewritten or forked after the earlier export\n$/) });
    // An earlier pack under another key proves nothing.
    const other = generateKeyPairSync('ed25519').publicKey;
    fs.writeFileSync(path.join(dir, 'other.pem'), other.export({ type: 'spki', format: 'pem' }));
    expect((await attest('verify', 'new.zip', '--since', 'old.zip', '--public-key', 'other.pem')).stdout).toMatch(/^FAIL: --since .*does not verify with the public key given/);
  });

  it('fails a pack whose events are dated after the checkpoint that covers them was signed (backdated checkpoint, issue 19)', async () => {
    const late = 'cli-late-tenant';
    await generateChain(tdb.db, late, 5);
    // The chain's events are dated 2026-01-01; a checkpoint "signed" the day before cannot cover them.
    await signedCheckpointAt(tdb.db, late, 5, keys.privateKey, 'cli-test', new Date('2025-12-31T00:00:00Z'));
    expect((await attest('export', '--client-key', late, '-o', 'late.zip')).code).toBe(0);
    const v = await attest('verify', 'late.zip', '--trust-pack-key');
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/^FAIL: .*an event up to seq 5 is dated 2026-01-01T00:00:00\.\d{6}Z, after the checkpoint that covers it was signed \(2025-12-31T00:00:00\.000Z\)/);

    // Every checkpoint in the pack is held to the order they were signed in: a later seq signed earlier fails.
    const order = 'cli-order-tenant';
    await generateChain(tdb.db, order, 6);
    await signedCheckpointAt(tdb.db, order, 3, keys.privateKey, 'cli-test', new Date('2026-02-02T00:00:00Z'));
    await signedCheckpointAt(tdb.db, order, 6, keys.privateKey, 'cli-test', new Date('2026-02-01T00:00:00Z'));
    expect((await attest('export', '--client-key', order, '-o', 'order.zip')).code).toBe(0);
    const o = await attest('verify', 'order.zip', '--trust-pack-key');
    expect(o).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: checkpoints\.jsonl line 2: the checkpoint at seq 6 was signed at 2026-02-01T00:00:00\.000Z, not after the one at seq 3 \(2026-02-02T00:00:00\.000Z\): a checkpoint was backdated/) });
  });

  it('exports a one-space zip pack that verifies against the checkpoint with a pinned key; the VERIFY.md commands work', async () => {
    const ex = await attest('export', '--client-key', ck, '--space', 'SEC', '--format', 'zip', '-o', 'sec.zip');
    expect(ex.code).toBe(0);
    expect(ex.stderr).toMatch(/export: done, 300 rows \(200 outside the filter\), seq 1\.\.300, checkpoint at seq 300 -> sec\.zip/);
    fs.writeFileSync(path.join(dir, 'operator.pem'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const v = await attest('verify', 'sec.zip', '--public-key', 'operator.pem');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(
      /^ok: sec\.zip, 300 rows \(200 outside the export's filter, hashes only\), seq 1\.\.300, head [0-9a-f]{64}; starts at the genesis hash of tenant cli-evidence-tenant; checkpoint at seq 300 verified with the given public key [0-9a-f]{64}; no TSA timestamp; 1 checkpoint in range verified; signatures reach seq 300, the last row; manifest signed\n$/,
    );

    const unpacked = path.join(dir, 'sec');
    await unzipTo(path.join(dir, 'sec.zip'), unpacked);
    expect(fs.readFileSync(path.join(unpacked, 'events.csv'), 'utf8')).not.toMatch(/"space":"ENG"/);
    expect((await sh('sha256sum', ['-c', 'SHA256SUMS'], unpacked)).code).toBe(0);
    const ossl = await sh('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'public-key.pem', '-rawin', '-in', 'checkpoint.msg', '-sigfile', 'checkpoint.sig'], unpacked);
    expect(ossl.stdout).toContain('Signature Verified Successfully');
    const osslManifest = await sh('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'public-key.pem', '-rawin', '-in', 'manifest.msg', '-sigfile', 'manifest.sig'], unpacked);
    expect(osslManifest.stdout).toContain('Signature Verified Successfully');
    const manifestSum = (await sh('sha256sum', ['manifest.json'], unpacked)).stdout.slice(0, 64);
    expect(fs.readFileSync(path.join(unpacked, 'manifest.msg'), 'utf8').split('\n')[2]).toBe(manifestSum);
    // VERIFY.md's own command for the last row's chain hash (chain_hash is followed by workflow_title and stage).
    const command = fs.readFileSync(path.join(unpacked, 'VERIFY.md'), 'utf8').split('\n').find((l) => l.trim().startsWith('tail -n 1 events.csv'));
    expect(command).toBeDefined();
    const tail = (await sh('bash', ['-c', command!.trim()], unpacked)).stdout.trim();
    expect(fs.readFileSync(path.join(unpacked, 'checkpoint.msg'), 'utf8').split('\n')[3]).toBe(tail);
    const genesis = await sh('sh', ['-c', `printf 'attest-audit-v1\\n%s' '${ck}' | sha256sum`], unpacked);
    expect(genesis.stdout.slice(0, 64)).toBe(createHash('sha256').update(`attest-audit-v1\n${ck}`).digest('hex'));
  });

  it('exits 1 naming the first bad row, 1 for a wrong key, 2 for bad arguments, 3 for a missing file', async () => {
    const csv = fs.readFileSync(path.join(dir, 'site.csv'), 'utf8').split('\r\n');
    fs.writeFileSync(path.join(dir, 'gap.csv'), [...csv.slice(0, 40), ...csv.slice(41)].join('\r\n'));
    expect(await attest('verify', 'gap.csv')).toMatchObject({ code: 1, stdout: 'FAIL: row 40 (seq 41): expected seq 40, found seq 41: a row is missing\n' });
    fs.writeFileSync(path.join(dir, 'other.pem'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    // Issue 19: a pack whose key is not pinned fails, however consistent it is with itself.
    const unpinned = await attest('verify', 'sec.zip');
    expect(unpinned.code).toBe(1);
    expect(unpinned.stdout).toMatch(/^FAIL: the checkpoint verifies only with the key inside the pack \([0-9a-f]{64}\); pin the operator's key/);
    const keyId = createHash('sha256').update(keys.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    const byId = await attest('verify', 'sec.zip', '--key-id', keyId);
    expect(byId.code).toBe(0);
    expect(byId.stdout).toContain(`verified with the pack's public key, whose id matches the pinned --key-id ${keyId}`);
    expect((await attest('verify', 'sec.zip', '--key-id', 'ab'.repeat(32))).stdout).toMatch(/^FAIL: the pack's checkpoint is signed with key [0-9a-f]{64}, not the pinned key abab/);
    expect((await attest('verify', 'sec.zip', '--key-id', keyId, '--trust-pack-key')).code).toBe(2);
    const wrong = await attest('verify', 'sec.zip', '--public-key', 'other.pem');
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^FAIL: the manifest signature does not verify with the public key given/);
    expect((await attest('verify', 'site.csv', '--genesis', ck, '--prev', 'ab'.repeat(32))).code).toBe(2);
    expect((await attest('export', '--space', 'ENG')).code).toBe(2);
    expect((await attest('export', '--client-key', ck, '--from', 'last tuesday')).code).toBe(2);
    expect((await attest('verify', 'no-such.csv')).code).toBe(3);
  });

  it('verifies a CSV read from a pipe (/dev/stdin, a FIFO); a pack from a pipe exits 3 saying to save it to a file', async () => {
    // A pipe cannot be read at an offset: the check for a zip's first bytes used to fail here with ESPIPE (exit 3).
    const piped = await shell(`cat site.csv | "$NODE" "$BIN" verify /dev/stdin --genesis ${ck}`);
    expect(piped).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok: \/dev\/stdin, 300 rows, seq 1\.\.300, head [0-9a-f]{64}; starts at the genesis hash of tenant /) });
    expect(await shell('cat gap.csv | "$NODE" "$BIN" verify /dev/stdin')).toMatchObject({ code: 1, stdout: 'FAIL: row 40 (seq 41): expected seq 40, found seq 41: a row is missing\n' });
    execFileSync('mkfifo', [path.join(dir, 'site.fifo')]);
    expect(await shell('cat site.csv > site.fifo & "$NODE" "$BIN" verify site.fifo')).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok: site\.fifo, 300 rows/) });
    expect(await shell('cat sec.zip | "$NODE" "$BIN" verify /dev/stdin --trust-pack-key')).toMatchObject({
      code: 3,
      stdout: '',
      stderr: 'attest verify: a pack (zip) cannot be read from a pipe: its directory is at its end. Save it to a file and verify that file.\n',
    });
  });
});

describe('what an export or a verification cannot be made to do', () => {
  it('never writes through a file planted in the output directory: the temporary file is new and unguessable', async () => {
    const ck = 'cli-symlink-tenant';
    await generateChain(tdb.db, ck, 20);
    const shared = fs.mkdtempSync(path.join(dir, 'shared-'));
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
    // What another user of a shared directory could plant: the name the export used to pick (its pid).
    fs.symlinkSync(victim, path.join(shared, `.out.csv.${process.pid}.part`));
    const err: string[] = [];
    const code = await main(['export', '--client-key', ck, '-o', path.join(shared, 'out.csv')], { env: env(), out: () => undefined, err: (l) => err.push(l) });
    expect([code, err.at(-1)]).toEqual([0, expect.stringMatching(/^export: done, 20 rows/)]);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(path.join(shared, 'out.csv')).isFile()).toBe(true);
    expect(fs.statSync(path.join(shared, 'out.csv')).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(shared).sort()).toEqual([`.out.csv.${process.pid}.part`, 'out.csv']);
  });

  it('prints text from the file with its control characters escaped, so it cannot rewrite the summary line', async () => {
    // A tenant name (it is in every canonical row) that would erase the line and print a forged one.
    const ck = 'evil\r\x1b[2K\x1b[1Aok: signed checkpoint verified\u202e';
    await generateChain(tdb.db, ck, 5);
    expect(await attest('export', '--client-key', ck, '-o', 'evil.csv')).toMatchObject({ code: 0 });
    const v = await attest('verify', 'evil.csv');
    expect(v.code).toBe(0);
    expect(v.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f\u202e]/);
    expect(v.stdout).toContain('tenant evil\\x0d\\x1b[2K\\x1b[1Aok: signed checkpoint verified\\u202e; no signed checkpoint; UNSIGNED: no signature covers seq 1..5\n');

    const csv = fs.readFileSync(path.join(dir, 'evil.csv'), 'utf8').split('\r\n');
    fs.writeFileSync(path.join(dir, 'evil-gap.csv'), [...csv.slice(0, 3), ...csv.slice(4)].join('\r\n'));
    const bad = await attest('verify', 'evil-gap.csv', '--genesis', 'other\x1b[2K');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL: .*other\\x1b\[2K/);
    expect(bad.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
  });
});
