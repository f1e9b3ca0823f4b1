/**
 * A tenant chain of any size written straight into audit_events with real hashes (format v1), for the
 * export / verify benchmarks and the evidence scale test. Batched multi-row inserts (unnest), one
 * transaction per batch; a few dozen subjects; two spaces; comments with commas, quotes, newlines.
 */
import { KeyObject, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalText, chainHash, genesisHash, leafHash, subjectRef } from '../src/audit/audit-format';
import { keyIdOf, signCheckpoint } from '../src/audit/checkpoint-format';
import type { Knex } from '../src/db/knex';

export { benchDatabase } from './bench-database';

const BATCH = 5000;
const COMMENTS = ['ok', 'Approved, with "quotes", commas\nand a second line', 'ünïcödé ✓ 日本語', '=HYPERLINK("http://x","y")', ''];

function at(us: bigint): string {
  const ms = Number(us / 1000n);
  return new Date(ms).toISOString().replace('Z', `${String(Number(us % 1000n)).padStart(3, '0')}Z`);
}

/**
 * A checkpoint at `seq`, signed with `signingKey` as the scheduler signs them (every 5 minutes in production).
 * An export re-hashes the rows after the latest checkpoint before it signs the head, so a benchmark without one
 * would measure a whole-chain check no deployment does at export time.
 */
export async function checkpointAt(
  db: Knex,
  clientKey: string,
  seq: number,
  signingKey: KeyObject,
  keyId = keyIdOf(signingKey),
  signedAt = new Date(),
): Promise<void> {
  const ev = await db('audit_events').where({ client_key: clientKey, seq }).first('chain_hash');
  const fields = { clientKey, seq, chainHash: ev.chain_hash.toString('hex'), signedAt: signedAt.toISOString() };
  await db('audit_checkpoints').insert({
    client_key: clientKey,
    seq,
    chain_hash: ev.chain_hash,
    signed_at: signedAt,
    signature: signCheckpoint(signingKey, fields),
    key_id: keyId,
  });
}

/** Appends `n` events after the tenant's current head (which must be at 0 here) and sets the head. */
export async function generateChain(db: Knex, clientKey: string, n: number, onBatch?: (done: number) => void): Promise<{ headHash: string }> {
  const accounts = Array.from({ length: 40 }, (_, i) => {
    const accountId = `557058:bench-${i.toString().padStart(4, '0')}`;
    const salt = randomBytes(16);
    return { accountId, salt, ref: subjectRef(salt, accountId) };
  });
  await db('audit_subjects').insert(accounts.map((a) => ({ client_key: clientKey, account_id: a.accountId, salt: a.salt, ref: a.ref })));
  let prev = genesisHash(clientKey);
  const base = BigInt(Date.parse('2026-01-01T00:00:00Z')) * 1000n;
  for (let start = 1; start <= n; start += BATCH) {
    const cols: string[][] = Array.from({ length: 10 }, () => []);
    for (let seq = start; seq < Math.min(start + BATCH, n + 1); seq++) {
      const space = seq % 3 === 0 ? 'SEC' : 'ENG';
      const actor = accounts[seq % accounts.length];
      const wf = `00000000-0000-4000-8000-${(seq % 5000).toString().padStart(12, '0')}`;
      const pageId = String(100000 + (seq % 5000));
      const when = at(base + BigInt(seq) * 1000n + BigInt(seq % 7));
      const canonical = canonicalText({
        v: 1,
        tenant: clientKey,
        seq,
        at: when,
        action: seq % 11 === 0 ? 'decision.rejected' : 'decision.approved',
        actor: { type: 'user', ref: actor.ref },
        space,
        page: { id: pageId, version: 1 + (seq % 9), title: `Policy ${seq % 5000}, ${space}`, bodyHash: null },
        workflow: wf,
        data: { decision: seq % 11 === 0 ? 'reject' : 'approve', comment: COMMENTS[seq % COMMENTS.length], round: 1, viaGroups: [] },
      });
      const leaf = leafHash(canonical);
      const chain = chainHash(prev, leaf);
      prev = chain;
      const row = [String(seq), when, seq % 11 === 0 ? 'decision.rejected' : 'decision.approved', space, pageId, wf, actor.ref, canonical, leaf.toString('hex'), chain.toString('hex')];
      row.forEach((v, i) => cols[i].push(v));
    }
    await db.raw(
      `insert into audit_events (client_key, seq, recorded_at, action, space_key, page_id, workflow_id, actor_ref, canonical, leaf_hash, chain_hash)
       select ?, s, r::timestamptz, a, sp, pg, wf, ar, c, decode(l, 'hex'), decode(ch, 'hex')
         from unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
           as t(s, r, a, sp, pg, wf, ar, c, l, ch)`,
      [clientKey, ...cols],
    );
    onBatch?.(Math.min(start + BATCH - 1, n));
  }
  await db('audit_heads')
    .insert({ client_key: clientKey, seq: n, chain_hash: prev, updated_at: at(base + BigInt(n) * 1000n + BigInt(n % 7)) })
    .onConflict('client_key')
    .merge();
  return { headHash: prev.toString('hex') };
}

export interface Measured {
  code: number;
  seconds: number;
  /** Peak resident set size of the process, MB (GNU time's %M). */
  peakRssMb: number;
  /** User + system CPU seconds (GNU time's %U + %S): less distorted than wall time when other work shares the cores. */
  cpuSeconds: number;
  stdout: string;
  stderr: string;
}

/** Runs a command under /usr/bin/time: wall time and peak RSS; stdout to `stdoutFile` when given. */
export function measure(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdoutFile?: string; cwd?: string } = {}): Promise<Measured> {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const timeFile = path.join(os.tmpdir(), `attest-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const out = opts.stdoutFile ? fs.openSync(opts.stdoutFile, 'w') : 'pipe';
    const child = spawn('/usr/bin/time', ['-f', '%e %M %U %S', '-o', timeFile, cmd, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', out, 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (typeof out === 'number') fs.closeSync(out);
      const [secs, kb, user, sys] = fs.readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-4).map(Number);
      fs.rmSync(timeFile, { force: true });
      resolve({ code: code ?? -1, seconds: secs, peakRssMb: kb / 1024, cpuSeconds: user + sys, stdout, stderr });
    });
  });
}

/** The `attest` command as an operator or auditor runs it. */
export const ATTEST_BIN = path.resolve(__dirname, '../bin/attest.js');

/** The environment an operator runs `attest` with against `databaseUrl`: development keys given, no devhost. */
export function operatorEnv(o: { databaseUrl: string; dir: string; signingKey: import('node:crypto').KeyObject }): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? o.dir,
    DATABASE_URL: o.databaseUrl,
    ATTEST_SECRET_KEY: 'cd'.repeat(32),
    ATTEST_SIGNING_KEY: o.signingKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    DATA_DIR: path.join(o.dir, 'data'),
    NODE_ENV: 'development',
    DEVHOST: 'off',
  };
}
