import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';
import { ATTEST_BIN, checkpointAt, generateChain, measure, operatorEnv } from '../../bench/export-fixture';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/**
 * A pack over a site of a few thousand pages: its report.html (one row per approvals page) is megabytes, and the
 * verifier must hash it as it streams like events.csv, not refuse it as an oversized small file (which every such
 * pack did until 2026-12-02: "report.html is too large").
 */
let tdb: TestDatabase;
let dir: string;
const keys = generateKeyPairSync('ed25519');
const CK = 'large-report-tenant';
const ROWS = 6000;

beforeAll(async () => {
  tdb = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-large-report-'));
});
afterAll(async () => {
  await tdb?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function entrySize(zip: string, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    yauzl.open(zip, { lazyEntries: true }, (err, zf) => {
      if (err || !zf) return reject(err);
      zf.on('entry', (e: yauzl.Entry) => (e.fileName === name ? (zf.close(), resolve(e.uncompressedSize)) : zf.readEntry()));
      zf.on('end', () => resolve(-1));
      zf.readEntry();
    });
  });
}

it('exports and verifies a pack whose report.html is over 1 MiB', async () => {
  await generateChain(tdb.db, CK, ROWS);
  await checkpointAt(tdb.db, CK, ROWS, keys.privateKey, 'cli-test');
  const env = operatorEnv({ databaseUrl: tdb.url, dir, signingKey: keys.privateKey });
  const run = (...args: string[]) => measure(process.execPath, [ATTEST_BIN, ...args], { env, cwd: dir });
  const pack = await run('export', '--client-key', CK, '-o', 'site.zip');
  expect(pack.code).toBe(0);
  expect(await entrySize(path.join(dir, 'site.zip'), 'report.html')).toBeGreaterThan(1 << 20);
  const verified = await run('verify', 'site.zip', '--trust-pack-key');
  expect(verified.stdout + verified.stderr).toContain(`${ROWS} rows, seq 1..${ROWS}`);
  expect(verified.code).toBe(0);
}, 180_000);
