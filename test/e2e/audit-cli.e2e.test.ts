import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuditLog } from '../../src/audit/audit-log';
import { createTestDatabase, TestDatabase } from '../helpers/database';

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
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dataDir,
    DATABASE_URL: tdb.url,
    ATTEST_SECRET_KEY: 'ab'.repeat(32),
    DATA_DIR: dataDir,
    NODE_ENV: 'development',
    DEVHOST: 'off',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, cwd: os.tmpdir(), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function appendEvents(clientKey: string, n: number): Promise<void> {
  const audit = createAuditLog(tdb.db, TEST_SECRET_KEY);
  for (let i = 0; i < n; i++) {
    await tdb.db.transaction((trx) =>
      audit.append(trx, clientKey, {
        action: 'decision.approved',
        actor: { type: 'user', accountId: `acc-${i % 3}` },
        spaceKey: 'DOC',
        page: { id: '42', version: 1, title: 'Policy', bodyHash: null },
        workflowId: 'wf-9',
        data: { comment: `ok ${i}` },
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
    expect(good).toMatchObject({ code: 0, stdout: `ok: client ${ck}, 12 events, seq 1..12, head ${head.chain_hash.toString('hex')}\n` });

    await tdb.db.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica');
      await trx.raw(`update audit_events set canonical = replace(canonical, 'ok 6', 'ok 66') where client_key = ? and seq = 7`, [ck]);
    });
    const bad = await attest('verify', '--db', '--client-key', ck);
    expect(bad).toMatchObject({ code: 1, stdout: 'FAIL: seq 7: leaf hash does not match canonical\n' });

    // A range that ends before the damage still verifies.
    const range = await attest('verify', '--db', '--client-key', ck, '--from-seq', '2', '--to-seq', '6');
    expect(range).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok: client cli-tenant-a, 5 events, seq 2\.\.6, head [0-9a-f]{64}\n$/) });
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

describe('attest migrate', () => {
  it('reports an up-to-date schema', async () => {
    expect(await attest('migrate')).toMatchObject({ code: 0, stdout: 'database schema is up to date\n' });
  });
});
