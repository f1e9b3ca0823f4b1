import { createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import canonicalize from 'canonicalize';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import request from 'supertest';
import { chainHash, leafHash } from '../../src/audit/audit-format';
import type { AuditEventInput } from '../../src/audit/audit-log';
import { checkpointMessage, signManifest } from '../../src/evidence/evidence-checkpoint';
import { COL, CSV_STRINGIFY_OPTIONS, EVIDENCE_COLUMNS, writeDerivedCells } from '../../src/evidence/evidence-csv';
import { chainLine } from '../../src/evidence/chain-lines';
import { EvidenceLinks } from '../../src/evidence/evidence-links';
import { createOperatorExport } from '../../src/evidence/evidence-feature';
import { verifyEvidenceCsv, verifyEvidenceFile, FileVerifyResult } from '../../src/evidence/evidence-verifier';
import { startTestApp, TestApp } from '../helpers/test-app';
import { writeZipFile, zipEntries } from '../helpers/zip-files';

/** Evidence exports through the whole stack: devhost JWTs and permissions, Postgres, the offline verifier. */
describe('evidence export end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  let tmp: string;
  const TRICKY = 'Approved, with "quotes",\nline two\r\nand ünïcödé — 日本語 ✓';
  const FORMULA = '=HYPERLINK("http://x","y")';
  const SEC_SECRET = 'SEC-ONLY confidential remark';

  const ck = () => d.clientKey;
  const as = (accountId: string) => `JWT ${d.contextJwt(accountId)}`;
  const get = (url: string, accountId: string) =>
    request(t.baseUrl).get(url).set('Authorization', as(accountId)).buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    });
  const records = (buf: Buffer): string[][] => parse(buf, { bom: true, relax_column_count: true });
  const toCsv = (rows: string[][]): Buffer => Buffer.from(stringify(rows.slice(1), CSV_STRINGIFY_OPTIONS), 'utf8');
  /** A pack's chain.txt for these CSV rows (header first), as the exporter writes it. */
  const toChain = (rows: string[][]): Buffer => Buffer.from(rows.slice(1).map(chainLine).join(''), 'utf8');
  const verifyBuf = (buf: Buffer, opts = {}) => verifyEvidenceCsv(Readable.from([buf]), opts);
  const failure = (r: FileVerifyResult) => (r.ok ? null : { seq: r.seq, reason: r.reason });

  async function append(spaceKey: string, accountId: string | null, data: Record<string, unknown>, action = 'decision.approved') {
    return t.db.transaction((trx) =>
      t.audit.append(trx, ck(), {
        action,
        actor: accountId ? { type: 'user', accountId } : { type: 'system' },
        spaceKey,
        page: { id: spaceKey === 'ENG' ? '1001' : '2001', version: 3, title: spaceKey === 'ENG' ? '-Release plan' : 'SEC access review', bodyHash: null },
        workflowId: `wf-${spaceKey}`,
        data,
      } as AuditEventInput),
    );
  }

  /** Signs the head at `seq` exactly as the scheduler does, into its table. */
  async function checkpointAt(seq: number) {
    const ev = await t.db('audit_events').where({ client_key: ck(), seq }).first('chain_hash');
    const c = { tenant: ck(), seq, chainHash: ev.chain_hash.toString('hex'), signedAt: new Date().toISOString() };
    const signature = sign(null, Buffer.from(checkpointMessage(c)), t.config.signingKey).toString('base64');
    // An export may have signed this head already.
    await t.db('audit_checkpoints').insert({ client_key: ck(), seq, chain_hash: ev.chain_hash, signed_at: c.signedAt, signature, key_id: 'test' }).onConflict(['client_key', 'seq']).ignore();
  }

  const readZip = zipEntries;

  async function writeZip(files: Map<string, Buffer>, name: string): Promise<string> {
    const file = path.join(tmp, name);
    await writeZipFile(files, file);
    return file;
  }

  const saveBuf = (buf: Buffer, name: string) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, buf);
    return file;
  };

  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-evidence-'));
    // A real workflow and decision through the API, then events of both spaces with awkward text.
    const page = d.pages.releaseChecklist;
    expect((await request(t.baseUrl).get(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0]).slice(t.baseUrl.length))).status).toBe(200);
    const wf = await request(t.baseUrl).get(`/api/pages/${page.id}/workflows/${page.macroIds[0]}`).set('Authorization', `JWT ${d.contextJwt(d.users.alice.accountId, { pageId: page.id })}`);
    const decided = await request(t.baseUrl)
      .post(`/api/pages/${page.id}/workflows/${page.macroIds[0]}/decisions`)
      .set('Authorization', `JWT ${d.contextJwt(d.users.alice.accountId, { pageId: page.id })}`)
      .send({ decision: 'approve', comment: TRICKY, pageVersion: wf.body.boundVersion });
    expect(decided.status).toBe(201);
    await append('SEC', d.users.secMember.accountId, { decision: 'approve', comment: SEC_SECRET, round: 1, viaGroups: ['security'] });
    await append('ENG', d.users.bob.accountId, { decision: 'reject', comment: FORMULA, round: 1, viaGroups: [] }, 'decision.rejected');
    await append('ENG', 'erased-account-1', { decision: 'approve', comment: '+1 looks good', round: 1, viaGroups: [] });
    await append('SEC', null, { approvedAt: '2026-01-01T00:00:00.000Z', reviewDays: 30, previousRound: 1, round: 2, reason: 'review lapsed' }, 'workflow.expired');
    for (let i = 0; i < 6; i++) await append(i % 2 ? 'SEC' : 'ENG', d.users.bob.accountId, { decision: 'approve', comment: `ok ${i}`, round: 1, viaGroups: [] });
    // The erased person, as the privacy job erases one: their subject row is deleted (the chain keeps their
    // ref) and a subject.erased event names the ref, which explains the blank subject to the verifier.
    const erased = await t.db('audit_subjects').where({ client_key: ck(), account_id: 'erased-account-1' }).first();
    await t.db.transaction(async (trx) => {
      await trx('audit_subjects').where({ client_key: ck(), account_id: 'erased-account-1' }).delete();
      await t.audit.append(trx, ck(), { action: 'subject.erased', actor: { type: 'system' }, data: { ref: erased.ref, reason: 'the account was closed (Atlassian personal data reporting)' } });
    });
  });
  afterAll(async () => {
    await t?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('exports the site as CSV that a standard parser reads and the verifier accepts from genesis', async () => {
    const res = await get('/api/evidence.csv', d.users.siteAdmin.accountId);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/attachment; filename="attest-evidence-site-\d{4}-\d{2}-\d{2}\.csv"/);
    const rows = records(res.body);
    expect(rows[0]).toEqual([...EVIDENCE_COLUMNS]);
    const count = await t.db('audit_events').where({ client_key: ck() }).count<{ count: number }[]>('* as count');
    expect(rows.length - 1).toBe(Number(count[0].count));
    expect(rows.slice(1).map((r) => Number(r[COL.seq]))).toEqual(rows.slice(1).map((_, i) => i + 1));
    const r = await verifyBuf(res.body);
    expect(r).toMatchObject({ ok: true, start: 'genesis', tenant: ck(), redactedRows: 0, checkpoint: { status: 'absent' } });
    // The export signed a checkpoint for the head it ends at, recorded like the scheduler's.
    const signed = await t.db('audit_checkpoints').where({ client_key: ck() }).orderBy('seq', 'desc').first();
    expect(Number(signed.seq)).toBe(rows.length - 1);
    // A CSV carries no signature: the verifier says so, and --strict fails it.
    expect(r).toMatchObject({ signedToSeq: null, unsignedRows: rows.length - 1 });
    expect(failure(await verifyBuf(res.body, { strict: true }))?.reason).toBe(
      `seq 1..${rows.length - 1} (${rows.length - 1} rows) are covered by no signature: no signed checkpoint covers any row (a CSV carries none: verify the evidence pack)`,
    );
  });

  it('round-trips commas, quotes, newlines and non-ASCII in comments, and neutralises a formula', async () => {
    const rows = records((await get('/api/evidence.csv', d.users.siteAdmin.accountId)).body).slice(1);
    const tricky = rows.find((r) => r[COL.action] === 'decision.approved' && r[COL.comment].startsWith('Approved'))!;
    expect(tricky[COL.comment]).toBe(TRICKY);
    expect(tricky[COL.decision]).toBe('approve');
    expect(JSON.parse(tricky[COL.canonical]).data.comment).toBe(TRICKY);
    const formula = rows.find((r) => r[COL.action] === 'decision.rejected')!;
    expect(formula[COL.comment]).toBe(`'${FORMULA}`);
    expect(JSON.parse(formula[COL.canonical]).data.comment).toBe(FORMULA);
    expect(formula[COL.page_title]).toBe("'-Release plan");
    expect(rows.find((r) => r[COL.comment] === "'+1 looks good")).toBeDefined();
    // Hash columns and canonical are never quoted away.
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r[COL.chain_hash]) && r[COL.canonical].startsWith('{'))).toBe(true);
  });

  it('shows accountId and salt beside a ref while the link exists, and only the ref once erased', async () => {
    const rows = records((await get('/api/evidence.csv', d.users.siteAdmin.accountId)).body).slice(1);
    const bob = rows.find((r) => r[COL.action] === 'decision.rejected')!;
    expect(bob[COL.actor_account_id]).toBe(d.users.bob.accountId);
    expect(bob[COL.actor_salt]).toMatch(/^[0-9a-f]{32}$/);
    const erased = rows.find((r) => r[COL.comment] === "'+1 looks good")!;
    expect(erased[COL.actor_ref]).toMatch(/^[0-9a-f]{64}$/);
    expect(erased[COL.actor_account_id]).toBe('');
    expect(erased[COL.actor_salt]).toBe('');
    const system = rows.find((r) => r[COL.action] === 'workflow.expired')!;
    expect([system[COL.actor_ref], system[COL.actor_account_id]]).toEqual(['', '']);
  });

  it("exports one space for its admin: verifiable, and nothing of the other space's content", async () => {
    const res = await get('/api/spaces/ENG/evidence.csv', d.users.spaceAdmin.accountId);
    expect(res.status).toBe(200);
    const text = res.body.toString('utf8');
    expect(text).not.toContain(SEC_SECRET);
    expect(text).not.toContain('SEC access review');
    expect(text).not.toContain(d.users.secMember.accountId);
    expect(text).not.toContain('"space":"SEC"');
    const rows = records(res.body).slice(1);
    const redacted = rows.filter((r) => r[COL.canonical] === '');
    expect(redacted.length).toBeGreaterThan(0);
    for (const r of redacted) {
      expect(r.filter((c, i) => c !== '' && ![COL.seq, COL.leaf_hash, COL.prev_chain_hash, COL.chain_hash].includes(i))).toEqual([]);
    }
    // Full rows: the space's, and erasures (a ref and a reason only), which every export shows.
    expect(rows.filter((r) => r[COL.canonical] !== '').every((r) => r[COL.space_key] === 'ENG' || r[COL.action] === 'subject.erased')).toBe(true);
    const v = await verifyBuf(res.body);
    expect(v).toMatchObject({ ok: true, start: 'genesis', redactedRows: redacted.length });
  });

  it('refuses a non-admin (403) for the space, the site and a download link; a space admin cannot export the site', async () => {
    const alice = d.users.alice.accountId;
    for (const url of ['/api/spaces/ENG/evidence.csv', '/api/spaces/ENG/evidence.zip', '/api/evidence.csv', '/api/evidence.zip']) {
      const res = await get(url, alice);
      expect(res.status).toBe(403);
      expect(res.headers['content-disposition']).toBeUndefined();
    }
    const link = await request(t.baseUrl).post('/api/spaces/ENG/evidence-links').set('Authorization', as(alice)).send({ format: 'csv' });
    expect(link.status).toBe(403);
    expect((await get('/api/evidence.csv', d.users.spaceAdmin.accountId)).status).toBe(403);
    expect((await request(t.baseUrl).get('/api/evidence.csv')).status).toBe(401);
  });

  it('rejects bad filters with 400', async () => {
    const res = await get('/api/spaces/ENG/evidence.csv?from=yesterday', d.users.spaceAdmin.accountId);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error.message).toMatch(/The start date \(from\) must be an ISO date/);
    expect((await get('/api/spaces/ENG/evidence.csv?from=2026-02-01&to=2026-01-01', d.users.spaceAdmin.accountId)).status).toBe(400);
  });

  it('serves a short-lived signed download link without a JWT, bound to what it was made for', async () => {
    const made = await request(t.baseUrl).post('/api/spaces/ENG/evidence-links').set('Authorization', as(d.users.spaceAdmin.accountId)).send({ format: 'csv' });
    expect(made.status).toBe(201);
    expect(made.body.url).toMatch(new RegExp(`^${t.baseUrl}/evidence/download\\?token=`));
    expect(new Date(made.body.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    const url = made.body.url.slice(t.baseUrl.length);
    const res = await request(t.baseUrl).get(url).buffer(true);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(SEC_SECRET);
    expect((await verifyBuf(Buffer.from(res.text))).ok).toBe(true);
    // Altered (another space) or expired: refused.
    const token = new URL(made.body.url).searchParams.get('token')!;
    const [header, body, mac] = token.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    expect(claims).toMatchObject({ purpose: 'evidence-download', space: 'ENG', tenant: ck() });
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, space: 'SEC' })).toString('base64url')}.${mac}`;
    expect((await request(t.baseUrl).get(`/evidence/download?token=${forged}`)).status).toBe(401);
    const old = new EvidenceLinks(t.config.secretKey, { now: () => new Date(Date.now() - 61_000) }).create({
      clientKey: ck(), accountId: d.users.spaceAdmin.accountId, filter: { spaceKey: 'ENG', from: null, to: null }, format: 'csv',
    });
    const expired = await request(t.baseUrl).get(`/evidence/download?token=${old.token}`);
    expect(expired.status).toBe(401);
    expect(expired.text).toMatch(/expired/);
  });

  describe('tampering with a CSV is caught at the right row', () => {
    let good: string[][];
    beforeAll(async () => {
      good = records((await get('/api/evidence.csv', d.users.siteAdmin.accountId)).body);
    });
    const copy = () => good.map((r) => [...r]);

    it('a display cell edited', async () => {
      const rows = copy();
      rows[4][COL.comment] = 'looks fine';
      expect(failure(await verifyBuf(toCsv(rows)))).toEqual({ seq: 4, reason: 'row 4 (seq 4): comment column does not match canonical' });
    });

    it('a canonical edited', async () => {
      const rows = copy();
      rows[5][COL.canonical] = rows[5][COL.canonical].replace('"round":1', '"round":2');
      expect(failure(await verifyBuf(toCsv(rows)))).toEqual({ seq: 5, reason: 'row 5 (seq 5): leaf hash does not match canonical' });
    });

    it('a row deleted', async () => {
      const rows = copy();
      rows.splice(6, 1);
      expect(failure(await verifyBuf(toCsv(rows)))).toEqual({ seq: 7, reason: 'row 6 (seq 7): expected seq 6, found seq 7: a row is missing' });
    });

    it('two rows swapped', async () => {
      const rows = copy();
      [rows[6], rows[7]] = [rows[7], rows[6]];
      expect(failure(await verifyBuf(toCsv(rows)))).toEqual({ seq: 7, reason: 'row 6 (seq 7): expected seq 6, found seq 7: a row is missing' });
    });

    it('a forged row inserted with correct hashes of its own', async () => {
      const rows = copy();
      const k = 5;
      const doc = JSON.parse(rows[k][COL.canonical]);
      const forgedDoc = { ...doc, seq: k + 1, data: { ...doc.data, comment: 'approved (forged)' } };
      const canonical = canonicalize(forgedDoc)!;
      const leaf = leafHash(canonical);
      const prev = rows[k][COL.chain_hash];
      const forged = [...rows[k]];
      writeDerivedCells(forgedDoc, forged);
      forged[COL.seq] = String(k + 1);
      forged[COL.canonical] = canonical;
      forged[COL.leaf_hash] = leaf.toString('hex');
      forged[COL.prev_chain_hash] = prev;
      forged[COL.chain_hash] = chainHash(Buffer.from(prev, 'hex'), leaf).toString('hex');
      rows.splice(k + 1, 0, forged);
      expect(failure(await verifyBuf(toCsv(rows)))).toEqual({
        seq: k + 1,
        reason: `row ${k + 2} (seq ${k + 1}): expected seq ${k + 2}, found seq ${k + 1}: a row is repeated or out of order`,
      });
    });

    it('the accountId beside a ref changed', async () => {
      const rows = copy();
      const i = rows.findIndex((r) => r[COL.actor_account_id] === d.users.bob.accountId);
      rows[i][COL.actor_account_id] = d.users.alice.accountId;
      expect(failure(await verifyBuf(toCsv(rows)))?.reason).toBe(`row ${i} (seq ${i}): actor_ref is not SHA-256(actor_salt ‖ actor_account_id)`);
    });

    it('a file that starts elsewhere than genesis needs --prev to anchor it', async () => {
      const rows = [good[0], ...good.slice(4)];
      const r = await verifyBuf(toCsv(rows));
      expect(r).toMatchObject({ ok: true, start: 'unanchored', firstSeq: 4 });
      expect((await verifyBuf(toCsv(rows), { prevChainHash: good[3][COL.chain_hash] })).ok).toBe(true);
      expect(failure(await verifyBuf(toCsv(rows), { prevChainHash: good[2][COL.chain_hash] }))?.reason).toBe('row 1 (seq 4): prev_chain_hash is not the hash given with --prev');
      expect(failure(await verifyBuf(toCsv(rows), { genesisTenant: ck() }))?.reason).toBe('row 1 (seq 4): the chain must start at seq 1 (--genesis)');
    });
  });

  describe('evidence pack (zip)', () => {
    let zipFile: string;
    let files: Map<string, Buffer>;
    let lastSeq: number;
    beforeAll(async () => {
      lastSeq = (await t.db('audit_heads').where({ client_key: ck() }).first('seq')).seq;
      await checkpointAt(lastSeq);
      const res = await get('/api/evidence.zip', d.users.siteAdmin.accountId);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/zip');
      zipFile = saveBuf(res.body, 'pack.zip');
      files = await readZip(res.body);
    });

    it('holds events, manifest, checkpoint, public key and VERIFY.md, and verifies against the checkpoint', async () => {
      expect([...files.keys()].sort()).toEqual(
        ['SHA256SUMS', 'VERIFY.md', 'chain.txt', 'checkpoint.json', 'checkpoint.msg', 'checkpoint.sig', 'checkpoint.tst', 'checkpoints.jsonl', 'events.csv', 'manifest.json', 'manifest.msg', 'manifest.sig', 'public-key.pem', 'report.html'].sort(),
      );
      const manifest = JSON.parse(files.get('manifest.json')!.toString());
      expect(manifest).toMatchObject({ tenant: ck(), rows: lastSeq, firstSeq: 1, lastSeq, checkpoint: { seq: lastSeq }, filters: { space: null, from: null, to: null } });
      expect(manifest.files['events.csv'].sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(files.get('VERIFY.md')!.toString()).toContain('openssl pkeyutl -verify');
      const r = await verifyEvidenceFile(zipFile);
      expect(r).toMatchObject({ ok: true, kind: 'zip', rows: lastSeq, start: 'genesis', checkpoint: { status: 'verified', seq: lastSeq, keySource: 'pack' } });
      const pub = saveBuf(files.get('public-key.pem')!, 'pub.pem');
      const pinned = await verifyEvidenceFile(zipFile, { publicKey: createPublicKey(fs.readFileSync(pub)) });
      expect(pinned).toMatchObject({ ok: true, checkpoint: { keySource: 'given' } });
    });

    it('catches rows cut from the end against the checkpoint, even with a rewritten manifest', async () => {
      const rows = records(files.get('events.csv')!);
      const cut = toCsv(rows.slice(0, -2));
      const manifest = JSON.parse(files.get('manifest.json')!.toString());
      const sha = createHash('sha256').update(cut).digest('hex');
      manifest.rows -= 2;
      manifest.lastSeq -= 2;
      manifest.files['events.csv'] = { sha256: sha, bytes: cut.length };
      const forged = new Map(files);
      forged.set('events.csv', cut);
      forged.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
      const r = await verifyEvidenceFile(await writeZip(forged, 'cut.zip'));
      expect(failure(r)?.reason).toMatch(/^the manifest signature does not verify with the pack's public key \(key id [0-9a-f]{64}\): manifest.json was changed after it was signed, or signed with another key$/);
      // Even a pack whose manifest someone could re-sign keeps the checkpoint at the old end (chain.txt cut to match).
      const cutChain = toChain(rows.slice(0, -2));
      manifest.files['chain.txt'] = { sha256: createHash('sha256').update(cutChain).digest('hex'), bytes: cutChain.length };
      forged.set('chain.txt', cutChain);
      forged.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
      const resigned = new Map(forged);
      resigned.set('manifest.sig', signManifest(t.config.signingKey, ck(), forged.get('manifest.json')!));
      const r2 = await verifyEvidenceFile(await writeZip(resigned, 'cut-resigned.zip'));
      expect(failure(r2)).toEqual({ seq: lastSeq - 2, reason: `the rows end at seq ${lastSeq - 2} but the signed checkpoint is at seq ${lastSeq}: rows are missing from the end` });
      // Without the manifest rewrite the digest already gives it away.
      const lazy = new Map(files);
      lazy.set('events.csv', cut);
      expect(failure(await verifyEvidenceFile(await writeZip(lazy, 'cut2.zip')))?.reason).toBe('events.csv does not match its SHA-256 in manifest.json');
    });

    it('holds every hidden row to the signed filter, and a blank subject to its erasure, even in a re-signed pack (issue 19)', async () => {
      /** The pack with events.csv replaced and its manifest (digest, redactedRows) re-signed, as only a key holder could. */
      const resign = async (rows: string[][], name: string, change: (m: Record<string, unknown>) => void = () => undefined) => {
        const csv = toCsv(rows);
        const chain = toChain(rows);
        const manifest = JSON.parse(files.get('manifest.json')!.toString());
        manifest.files['events.csv'] = { sha256: createHash('sha256').update(csv).digest('hex'), bytes: csv.length };
        manifest.files['chain.txt'] = { sha256: createHash('sha256').update(chain).digest('hex'), bytes: chain.length };
        manifest.redactedRows = rows.slice(1).filter((r) => r[COL.canonical] === '').length;
        change(manifest);
        const out = new Map(files);
        out.set('events.csv', csv);
        out.set('chain.txt', chain);
        out.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
        out.set('manifest.sig', signManifest(t.config.signingKey, ck(), out.get('manifest.json')!));
        return verifyEvidenceFile(await writeZip(out, name));
      };
      const rows = records(files.get('events.csv')!);
      const hide = (r: string[]) => r.map((c, i) => ([COL.seq, COL.leaf_hash, COL.prev_chain_hash, COL.chain_hash].includes(i) ? c : ''));
      // The site pack's filter hides nothing: a row turned into hashes only is a redaction forgery.
      const hidden = rows.map((r, i) => (i === 2 ? hide(r) : r));
      expect(failure(await resign(hidden, 'hidden.zip'))).toEqual({ seq: 2, reason: 'row 2 (seq 2): is shown by hashes only, but the signed filter hides no row (no space, no end time)' });
      // Claiming a space filter does not help: every full row must be in that space.
      expect(failure(await resign(hidden, 'hidden-space.zip', (m) => ((m.filters as Record<string, unknown>).space = 'ENG')))?.reason).toMatch(/is shown in full but belongs to space "SEC", outside the signed filter \(space ENG\)/);
      // With a time filter only, hidden rows may only follow every shown one.
      expect(failure(await resign(hidden, 'hidden-time.zip', (m) => ((m.filters as Record<string, unknown>).to = '2100-01-01T00:00:00.000Z')))?.reason).toMatch(/^row 3 \(seq 3\): is shown in full after seq 2 was hidden, though the signed filter hides only by time/);
      // The erasure event removed: the blank subject it explained is now unexplained.
      const erasure = rows.findIndex((r) => r[COL.action] === 'subject.erased');
      expect(erasure).toBeGreaterThan(0);
      const noErasure = rows.map((r, i) => (i === erasure ? hide(r) : r));
      expect(failure(await resign(noErasure, 'no-erasure.zip', (m) => ((m.filters as Record<string, unknown>).to = '2100-01-01T00:00:00.000Z')))?.reason).toMatch(/is shown without its person, but no subject.erased event for it is in the file/);
    });

    it('reads chain.txt by default and proves every CSV cell from it: the two files cannot be made to disagree (issue 15)', async () => {
      /** The pack with some files replaced; `resign`: the manifest lists their new digests and is re-signed, as only a key holder could. */
      const tampered = async (name: string, replace: Record<string, Buffer>, resign: boolean) => {
        const out = new Map(files);
        const manifest = JSON.parse(files.get('manifest.json')!.toString());
        for (const [file, buf] of Object.entries(replace)) {
          out.set(file, buf);
          if (resign) manifest.files[file] = { sha256: createHash('sha256').update(buf).digest('hex'), bytes: buf.length };
        }
        if (resign) {
          out.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
          out.set('manifest.sig', signManifest(t.config.signingKey, ck(), out.get('manifest.json')!));
        }
        return writeZip(out, name);
      };
      /** The verdict on the main thread alone, which the worker threads (the default for a large pack) must give too. */
      const verifyBoth = async (file: string) => {
        const alone = await verifyEvidenceFile(file, { threads: 0 });
        expect(await verifyEvidenceFile(file, { threads: 2 })).toEqual(alone);
        return alone;
      };
      const rows = records(files.get('events.csv')!);
      const chain = files.get('chain.txt')!.toString('utf8');
      expect(chain.split('\n')).toHaveLength(rows.length); // one line per row, and a final LF
      expect(toChain(rows).equals(files.get('chain.txt')!)).toBe(true);
      // A display cell changed in the CSV alone: its digest gives it away; re-signed, the derived CSV does.
      const edited = rows.map((r, i) => (i === 3 ? r.map((c, j) => (j === COL.comment ? 'approved after all' : c)) : r));
      expect(failure(await verifyBoth(await tampered('csv-cell.zip', { 'events.csv': toCsv(edited) }, false)))?.reason).toBe('events.csv does not match its SHA-256 in manifest.json');
      expect(failure(await verifyBoth(await tampered('csv-cell-resigned.zip', { 'events.csv': toCsv(edited) }, true)))).toEqual({
        seq: 3,
        reason: 'row 3 (seq 3): events.csv does not show what chain.txt holds for this row: the two files disagree, though the manifest signs both',
      });
      // A row added to the CSV only, or its header changed.
      const extra = toCsv([...rows, rows[rows.length - 1]]);
      expect(failure(await verifyBoth(await tampered('csv-extra.zip', { 'events.csv': extra }, true)))?.reason).toBe(
        `events.csv does not end where chain.txt does (after row ${rows.length - 1}): the two files disagree, though the manifest signs both`,
      );
      const header = Buffer.concat([Buffer.from('seq,recorded_at '), toCsv(rows).subarray(Buffer.byteLength('seq,recorded_at,'))]);
      expect(failure(await verifyBoth(await tampered('csv-header.zip', { 'events.csv': header }, true)))?.reason).toMatch(/^the header row of events.csv is not the evidence CSV header/);
      // chain.txt changed: a comment in a canonical text, with or without the manifest re-signed.
      const lines = chain.split('\n');
      const forgedLine = lines.map((l, i) => (i === 2 ? l.replace('"comment":"', '"comment":"not ') : l)).join('\n');
      expect(forgedLine).not.toBe(chain);
      for (const resign of [false, true]) {
        const r = await verifyBoth(await tampered(`chain-${resign}.zip`, { 'chain.txt': Buffer.from(forgedLine) }, resign));
        expect(failure(r)).toEqual({ seq: 3, reason: 'row 3 (seq 3): leaf hash does not match canonical' });
      }
      // Both changed alike, with the hashes recomputed: the chain no longer reaches the signed checkpoint.
      const both = rows.map((r, i) => {
        if (i !== 3) return r;
        const doc = JSON.parse(r[COL.canonical]);
        doc.data.comment = 'approved after all';
        const canonical = canonicalize(doc)!;
        return r.map((c, j) => (j === COL.canonical ? canonical : j === COL.comment ? 'approved after all' : j === COL.leaf_hash ? leafHash(canonical).toString('hex') : c));
      });
      const rb = await verifyBoth(await tampered('both.zip', { 'events.csv': toCsv(both), 'chain.txt': toChain(both) }, true));
      expect(failure(rb)).toEqual({ seq: 3, reason: 'row 3 (seq 3): chain_hash is not SHA-256(0x01 ‖ prev_chain_hash ‖ leaf_hash)' });
      // A pack without its chain.txt, or one the manifest does not list.
      const noChain = new Map(files);
      noChain.delete('chain.txt');
      expect(failure(await verifyEvidenceFile(await writeZip(noChain, 'no-chain.zip')))?.reason).toBe('the pack has no chain.txt');
      // --csv reads events.csv as before and still holds chain.txt to its digest.
      expect(await verifyEvidenceFile(zipFile, { viaCsv: true })).toMatchObject({ ok: true, rows: lastSeq, checkpoint: { status: 'verified', seq: lastSeq } });
      expect(failure(await verifyEvidenceFile(await tampered('chain-via-csv.zip', { 'chain.txt': Buffer.from(forgedLine) }, false), { viaCsv: true }))?.reason).toBe(
        'chain.txt does not match its SHA-256 in manifest.json',
      );
    });

    it('still reads a format v3 pack (no chain.txt) through its CSV', async () => {
      const out = new Map(files);
      out.delete('chain.txt');
      const manifest = JSON.parse(files.get('manifest.json')!.toString());
      manifest.format = 'attest-evidence-pack-v3';
      delete manifest.files['chain.txt'];
      out.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
      out.set('manifest.sig', signManifest(t.config.signingKey, ck(), out.get('manifest.json')!));
      expect(await verifyEvidenceFile(await writeZip(out, 'v3.zip'))).toMatchObject({ ok: true, rows: lastSeq, manifest: 'signed', checkpoint: { status: 'verified', seq: lastSeq } });
    });

    it('still reads a format v4 pack (events.csv with the 18 columns before stage) through chain.txt, every cell it has proven', async () => {
      const v4 = (name: string, rows: string[][]) => {
        const out = new Map(files);
        const csv = Buffer.from(stringify(rows.slice(1).map((r) => r.slice(0, COL.stage)), { ...CSV_STRINGIFY_OPTIONS, columns: EVIDENCE_COLUMNS.slice(0, COL.stage) as unknown as string[] }), 'utf8');
        out.set('events.csv', csv);
        const manifest = JSON.parse(files.get('manifest.json')!.toString());
        manifest.format = 'attest-evidence-pack-v4';
        manifest.files['events.csv'] = { sha256: createHash('sha256').update(csv).digest('hex'), bytes: csv.length };
        out.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
        out.set('manifest.sig', signManifest(t.config.signingKey, ck(), out.get('manifest.json')!));
        return writeZip(out, name);
      };
      const rows = records(files.get('events.csv')!);
      expect(await verifyEvidenceFile(await v4('v4.zip', rows))).toMatchObject({ ok: true, rows: lastSeq, manifest: 'signed', checkpoint: { status: 'verified', seq: lastSeq } });
      const edited = rows.map((r, i) => (i === 3 ? r.map((c, j) => (j === COL.comment ? 'approved after all' : c)) : r));
      expect(failure(await verifyEvidenceFile(await v4('v4-edited.zip', edited)))?.reason).toMatch(/^row 3 \(seq \d+\): events.csv does not show what chain.txt holds for this row/);
    });

    it('refuses the manifest and the checkpoint under a wrong public key', async () => {
      const other = generateKeyPairSync('ed25519');
      const r = await verifyEvidenceFile(zipFile, { publicKey: other.publicKey });
      expect(failure(r)?.reason).toMatch(/^the manifest signature does not verify with the public key given \(key id [0-9a-f]{64}\)/);
      // A manifest re-signed with that other key still leaves the checkpoint, signed with Attest's key.
      const resigned = new Map(files);
      resigned.set('manifest.sig', signManifest(other.privateKey, ck(), files.get('manifest.json')!));
      const r2 = await verifyEvidenceFile(await writeZip(resigned, 'other-key.zip'), { publicKey: other.publicKey });
      expect(failure(r2)?.reason).toMatch(/^the checkpoint signature \(seq \d+\) does not verify with the public key given \(key id [0-9a-f]{64}\)$/);
    });

    it('exports a time range up to a later checkpoint: rows after the range are hashes only', async () => {
      const at = (await t.db.raw(`select to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at from audit_events where client_key = ? and seq = 4`, [ck()])).rows[0].at;
      const to = (await t.db.raw(`select to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at from audit_events where client_key = ? and seq = 8`, [ck()])).rows[0].at;
      const res = await get(`/api/spaces/ENG/evidence.zip?from=${encodeURIComponent(at)}&to=${encodeURIComponent(to)}`, d.users.spaceAdmin.accountId);
      expect(res.status).toBe(200);
      const pack = await readZip(res.body);
      const rows = records(pack.get('events.csv')!).slice(1);
      expect(rows[0][COL.seq]).toBe('4');
      expect(rows[rows.length - 1][COL.seq]).toBe(String(lastSeq));
      expect(rows.filter((r) => Number(r[COL.seq]) >= 8).every((r) => r[COL.canonical] === '' || r[COL.action] === 'subject.erased')).toBe(true);
      expect(pack.get('events.csv')!.toString()).not.toContain(SEC_SECRET);
      const r = await verifyEvidenceFile(saveBuf(res.body, 'range.zip'));
      expect(r).toMatchObject({ ok: true, firstSeq: 4, lastSeq, start: 'unanchored', checkpoint: { status: 'verified', seq: lastSeq } });
    });
  });

  describe('signatures reach the last row', () => {
    /** A pack of `files` with the checkpoint replaced by one at `seq`, manifest and SHA256SUMS rewritten to match. */
    async function withCheckpointAt(files: Map<string, Buffer>, seq: number, opts: { signManifest: boolean; format?: string }) {
      const ev = await t.db('audit_events').where({ client_key: ck(), seq }).first('chain_hash');
      const c = { tenant: ck(), seq, chainHash: ev.chain_hash.toString('hex'), signedAt: new Date().toISOString() };
      const cp = { ...c, signature: sign(null, Buffer.from(checkpointMessage(c)), t.config.signingKey).toString('base64'), keyId: 'test' };
      const out = new Map(files);
      out.set('checkpoint.json', Buffer.from(JSON.stringify(cp)));
      out.set('checkpoint.msg', Buffer.from(checkpointMessage(c)));
      out.set('checkpoint.sig', Buffer.from(cp.signature, 'base64'));
      const manifest = JSON.parse(files.get('manifest.json')!.toString());
      manifest.checkpoint = { seq, chainHash: c.chainHash, signedAt: c.signedAt, keyId: 'test' };
      // An older pack's shape (v2: only the last checkpoint), as a key holder could re-sign it.
      manifest.format = opts.format ?? 'attest-evidence-pack-v2';
      out.delete('checkpoints.jsonl');
      delete manifest.files['checkpoints.jsonl'];
      for (const name of ['checkpoint.json', 'checkpoint.msg', 'checkpoint.sig']) {
        manifest.files[name] = { sha256: createHash('sha256').update(out.get(name)!).digest('hex'), bytes: out.get(name)!.length };
      }
      const sums = Object.entries(manifest.files as Record<string, { sha256: string }>).filter(([n]) => n !== 'SHA256SUMS').map(([n, f]) => `${f.sha256}  ${n}\n`).join('');
      out.set('SHA256SUMS', Buffer.from(sums));
      manifest.files.SHA256SUMS = { sha256: createHash('sha256').update(sums).digest('hex'), bytes: sums.length };
      const bytes = Buffer.from(JSON.stringify(manifest));
      out.set('manifest.json', bytes);
      if (opts.signManifest) out.set('manifest.sig', signManifest(t.config.signingKey, ck(), bytes));
      else out.delete('manifest.sig');
      return out;
    }

    it('signs a checkpoint for the head at export time, so a pack ends at its signature (manifest signed too)', async () => {
      await append('ENG', d.users.bob.accountId, { decision: 'approve', comment: 'after the last checkpoint', round: 1, viaGroups: [] });
      await append('ENG', d.users.bob.accountId, { decision: 'approve', comment: 'and one more', round: 1, viaGroups: [] });
      const head = Number((await t.db('audit_heads').where({ client_key: ck() }).first('seq')).seq);
      const res = await get('/api/evidence.zip', d.users.siteAdmin.accountId);
      const files = await readZip(res.body);
      const manifest = JSON.parse(files.get('manifest.json')!.toString());
      expect(manifest).toMatchObject({ format: 'attest-evidence-pack-v5', lastSeq: head, checkpoint: { seq: head }, endedAtCheckpoint: null });
      expect(await t.db('audit_checkpoints').where({ client_key: ck(), seq: head })).toHaveLength(1);
      expect(files.get('manifest.msg')!.toString()).toBe(`attest-pack-manifest-v1\n${ck()}\n${createHash('sha256').update(files.get('manifest.json')!).digest('hex')}\n`);
      const r = await verifyEvidenceFile(saveBuf(res.body, 'head.zip'));
      expect(r).toMatchObject({ ok: true, lastSeq: head, signedToSeq: head, unsignedRows: 0, manifest: 'signed' });
      expect(files.get('VERIFY.md')!.toString()).toContain('What "ok" proves, and what it does not');
    });

    it('fails a pack whose rows run past its checkpoint (--strict, the default), and reports them unsigned without it', async () => {
      const res = await get('/api/evidence.zip', d.users.siteAdmin.accountId);
      const files = await readZip(res.body);
      const head = JSON.parse(files.get('manifest.json')!.toString()).lastSeq;
      const early = await withCheckpointAt(files, 3, { signManifest: true });
      const file = await writeZip(early, 'early-checkpoint.zip');
      expect(failure(await verifyEvidenceFile(file))).toEqual({
        seq: 4,
        reason: `seq 4..${head} (${head - 3} rows) are covered by no signature: signatures reach seq 3`,
      });
      expect(await verifyEvidenceFile(file, { strict: false })).toMatchObject({ ok: true, signedToSeq: 3, unsignedRows: head - 3, checkpoint: { seq: 3 } });
    });

    it('fails a pack whose last rows were deleted and whose manifest and SHA256SUMS were rewritten', async () => {
      const res = await get('/api/evidence.zip', d.users.siteAdmin.accountId);
      const files = await readZip(res.body);
      const rows = records(files.get('events.csv')!);
      const cut = toCsv(rows.slice(0, -3));
      const forged = new Map(files);
      forged.set('events.csv', cut);
      const manifest = JSON.parse(files.get('manifest.json')!.toString());
      manifest.rows -= 3;
      manifest.lastSeq -= 3;
      manifest.files['events.csv'] = { sha256: createHash('sha256').update(cut).digest('hex'), bytes: cut.length };
      forged.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
      forged.set('SHA256SUMS', Buffer.from(Object.entries(manifest.files as Record<string, { sha256: string }>).map(([n, f]) => `${f.sha256}  ${n}\n`).join('')));
      const r = await verifyEvidenceFile(await writeZip(forged, 'tail-cut.zip'));
      expect(r.ok).toBe(false);
      expect(failure(r)?.reason).toMatch(/^the manifest signature does not verify/);
      // Dropping the signature, or passing the pack off as format v1, does not help either.
      const unsigned = new Map(forged);
      unsigned.delete('manifest.sig');
      expect(failure(await verifyEvidenceFile(await writeZip(unsigned, 'tail-cut-unsigned.zip')))?.reason).toBe('the pack has no manifest.sig: its manifest is not signed');
      const v1 = await withCheckpointAt(unsigned, manifest.lastSeq - 5, { signManifest: false, format: 'attest-evidence-pack-v1' });
      const r3 = await verifyEvidenceFile(await writeZip(v1, 'tail-cut-v1.zip'));
      expect(failure(r3)?.reason).toMatch(/are covered by no signature: signatures reach seq/);
    });

    it('still reads a format v1 pack, but --strict refuses its unsigned manifest', async () => {
      const res = await get('/api/evidence.zip', d.users.siteAdmin.accountId);
      const files = await readZip(res.body);
      const head = JSON.parse(files.get('manifest.json')!.toString()).lastSeq;
      const v1 = await withCheckpointAt(files, head, { signManifest: false, format: 'attest-evidence-pack-v1' });
      const file = await writeZip(v1, 'v1.zip');
      expect(failure(await verifyEvidenceFile(file))?.reason).toMatch(/^manifest.json is not signed \(pack format attest-evidence-pack-v1\)/);
      expect(await verifyEvidenceFile(file, { strict: false })).toMatchObject({ ok: true, signedToSeq: head, unsignedRows: 0, manifest: 'unsigned' });
    });
  });

  it('refuses a pack whose stored canonical text holds a raw line feed (not RFC 8785: chain.txt would split it), and the CSV shows it for the verifier to name (issue 15)', async () => {
    const ck2 = 'lf-tenant';
    const canonical = '{"a":"line one\nline two"}';
    const leaf = leafHash(canonical);
    const chain = chainHash(createHash('sha256').update(`attest-audit-v1\n${ck2}`).digest(), leaf);
    await t.db('audit_events').insert({ client_key: ck2, seq: 1, recorded_at: new Date(), action: 'x', canonical, leaf_hash: leaf, chain_hash: chain });
    await t.db('audit_checkpoints').insert({ client_key: ck2, seq: 1, chain_hash: chain, signed_at: new Date(), signature: 'AA==', key_id: 'test' });
    const service = createOperatorExport(t.db, { signingKey: t.config.signingKey, publicKey: null }, { now: () => new Date() });
    const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
    await expect(service.write(ck2, { spaceKey: null, from: null, to: null }, 'zip', sink())).rejects.toThrow(
      /^seq 1: its canonical text holds a raw line feed, so it is not in RFC 8785 form\. No evidence pack can be exported/,
    );
    const chunks: Buffer[] = [];
    await service.write(ck2, { spaceKey: null, from: null, to: null }, 'csv', new Writable({ write: (c, _e, cb) => (chunks.push(c), cb()) }));
    expect(failure(await verifyBuf(Buffer.concat(chunks)))).toEqual({ seq: 1, reason: 'row 1 (seq 1): canonical is not valid JSON' });
  });

  it('stops the query when the client disconnects', async () => {
    // Enough rows that the export cannot finish before the client goes away.
    await t.db.raw(
      `insert into audit_events (client_key, seq, recorded_at, action, canonical, leaf_hash, chain_hash)
       select 'bulk-tenant', g, now(), 'x', repeat('x', 2000), decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex')
         from generate_series(1, 40000) g`,
    );
    const service = createOperatorExport(t.db, { signingKey: t.config.signingKey, publicKey: null }, { now: () => new Date() });
    const abort = new AbortController();
    let bytes = 0;
    const sink = new Writable({
      write(chunk, _e, cb) {
        bytes += chunk.length;
        if (bytes > 100_000) abort.abort();
        setTimeout(cb, 5);
      },
    });
    await expect(service.write('bulk-tenant', { spaceKey: null, from: null, to: null }, 'csv', sink, { signal: abort.signal })).rejects.toThrow(/abort/i);
    const busy = await t.db.raw(`select count(*)::int as n from pg_stat_activity where datname = current_database() and (query ilike 'fetch%' or query ilike 'declare%') and state <> 'idle'`);
    expect(busy.rows[0].n).toBe(0);
    expect(bytes).toBeLessThan(10_000_000);
  });

  it('names a titled workflow in its rows (workflow_title, a trailing column), held to the canonical text; a 17-column CSV still verifies', async () => {
    const page = d.pages.postmortem;
    await d.saveMacro(page.id, page.macroIds[0], { ...d.page(page.id).macros[0].params, title: 'Root-cause review' }, d.users.author.accountId);
    await t.pageEvents.settled();
    expect((await request(t.baseUrl).get(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0]).slice(t.baseUrl.length))).status).toBe(200);
    const token = `JWT ${d.contextJwt(d.users.alice.accountId, { pageId: page.id })}`;
    const wf = await request(t.baseUrl).get(`/api/pages/${page.id}/workflows/${page.macroIds[0]}`).set('Authorization', token);
    const decided = await request(t.baseUrl)
      .post(`/api/pages/${page.id}/workflows/${page.macroIds[0]}/decisions`)
      .set('Authorization', token)
      .send({ decision: 'approve', pageVersion: wf.body.boundVersion });
    expect(decided.status).toBe(201);

    const rows = records((await get('/api/evidence.csv', d.users.siteAdmin.accountId)).body);
    expect(rows[0].slice(-2)).toEqual(['workflow_title', 'stage']);
    const ofPage = rows.slice(1).filter((r) => r[COL.page_id] === page.id);
    expect(ofPage.map((r) => r[COL.action])).toEqual(expect.arrayContaining(['workflow.created', 'decision.approved', 'workflow.approved']));
    expect(ofPage.every((r) => r[COL.workflow_title] === 'Root-cause review')).toBe(true);
    expect(rows.slice(1).filter((r) => r[COL.page_id] !== page.id && r[COL.workflow_title] !== '')).toEqual([]);
    expect(await verifyBuf(toCsv(rows))).toMatchObject({ ok: true });

    // The column is a copy of the canonical text like every display column: a changed title fails.
    const decisionRow = rows.findIndex((r) => r[COL.page_id] === page.id && r[COL.action] === 'decision.approved');
    const forged = rows.map((r, i) => (i === decisionRow ? r.map((c, j) => (j === COL.workflow_title ? 'Board sign-off' : c)) : r));
    expect(failure(await verifyBuf(toCsv(forged)))).toEqual({
      seq: Number(rows[decisionRow][COL.seq]),
      reason: `row ${decisionRow} (seq ${rows[decisionRow][COL.seq]}): workflow_title column does not match canonical`,
    });

    // CSVs exported before the column existed (17 columns) are still read, every column they have checked.
    const legacy = rows.map((r) => r.slice(0, COL.workflow_title));
    const legacyCsv = Buffer.from(stringify(legacy, { ...CSV_STRINGIFY_OPTIONS, header: false, columns: undefined }), 'utf8');
    expect(await verifyBuf(legacyCsv)).toMatchObject({ ok: true });
    const legacyForged = legacy.map((r, i) => (i === decisionRow ? r.map((c, j) => (j === COL.page_title ? 'Renamed' : c)) : r));
    const legacyForgedCsv = Buffer.from(stringify(legacyForged, { ...CSV_STRINGIFY_OPTIONS, header: false, columns: undefined }), 'utf8');
    expect(failure(await verifyBuf(legacyForgedCsv))?.reason).toMatch(/page_title column does not match canonical/);
  });
});
