import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import request from 'supertest';
import { approvalsMacro, MACRO } from '../../src/devhost/devhost-seed';
import { COL, CSV_STRINGIFY_OPTIONS } from '../../src/evidence/evidence-csv';
import { verifyEvidenceCsv, verifyEvidenceFile } from '../../src/evidence/evidence-verifier';
import { startTestApp, TestApp } from '../helpers/test-app';

const DAY_MS = 86_400_000;

/**
 * Ordered stages (issue 16) through the whole stack: a page in SEC with two Approvals macros, "Legal sign-off"
 * (Ada) and "Security review" (Bob) with `after` = "Legal sign-off", edited into the devhost's page as an author
 * would write it in storage format; decisions through the API with devhost JWTs; the chain and the evidence CSV.
 */
describe('ordered stages end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  let tmp: string;
  const LEGAL = MACRO.vendorRiskLegal;
  const SECURITY = MACRO.vendorRiskSecurity;

  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-stages-'));
  });
  afterAll(async () => {
    await t?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const pageId = () => d.pages.vendorRisk.id;
  const body = (text: string, legal: Record<string, string> = {}) =>
    `<p>${text}</p>` +
    `<h2>Legal</h2>${approvalsMacro(LEGAL, { title: 'Legal sign-off', approvers: d.users.spaceAdmin.accountId, rule: 'all', ...legal })}` +
    `<h2>Security</h2>${approvalsMacro(SECURITY, { title: 'Security review', after: 'Legal sign-off', approvers: d.users.bob.accountId, rule: 'all' })}`;
  const render = (as: string, macroId: string) => request(t.baseUrl).get(d.macroUrl(as, pageId(), macroId).slice(t.baseUrl.length));
  const api = (as: string, macroId: string) => {
    const base = `/api/pages/${pageId()}/workflows/${macroId}`;
    const token = `JWT ${d.contextJwt(as, { pageId: pageId() })}`;
    return {
      get: () => request(t.baseUrl).get(base).set('Authorization', token),
      decide: (b: object) => request(t.baseUrl).post(`${base}/decisions`).set('Authorization', token).send(b),
    };
  };
  const myApprovals = (as: string) => request(t.baseUrl).get('/api/me/approvals').set('Authorization', `JWT ${d.contextJwt(as)}`);
  const events = async (since = 0) =>
    (await t.db('audit_events').where({ client_key: d.clientKey }).where('seq', '>', since).orderBy('seq')).map((e) => ({
      seq: Number(e.seq),
      action: e.action as string,
      workflow: e.workflow_id as string | null,
      data: JSON.parse(e.canonical).data,
    }));
  const head = async () => Number((await t.db('audit_heads').where({ client_key: d.clientKey }).first('seq'))?.seq ?? 0);
  const workflowId = async (macroId: string) => (await t.db('workflows').where({ client_key: d.clientKey, page_id: pageId(), macro_id: macroId }).first('id')).id as string;
  const ada = () => d.users.spaceAdmin.accountId;
  const bob = () => d.users.bob.accountId;

  it('a two-stage page is approved in order: stage 2 opens only when stage 1 is approved', async () => {
    await d.editPage(pageId(), { body: body('Vendor assessment, two stages.'), as: d.users.author.accountId });
    await t.pageEvents.settled();
    expect((await render(bob(), LEGAL)).status).toBe(200);
    const waiting = await render(bob(), SECURITY);
    expect(waiting.status).toBe(200);
    expect(waiting.text).toContain('data-testid="stage-gate">Opens after Legal sign-off.</p>');
    expect(waiting.text).toMatch(/Stage 2 of 2 · This page: At stage 1 of 2: Legal sign-off/);
    // Nobody is waited for in a stage that has not opened.
    expect(waiting.text).not.toContain('Waiting for:');

    const security = (await api(bob(), SECURITY).get()).body;
    expect(security).toMatchObject({
      after: 'Legal sign-off',
      stages: { position: 2, count: 2, result: 'open', current: 'Legal sign-off', opensAfter: 'Opens after Legal sign-off.' },
      viewer: { canDecide: false, reason: 'Opens after Legal sign-off.' },
    });
    expect(security.stages.sequence.map((s: { title: string; state: string }) => [s.title, s.state])).toEqual([
      ['Legal sign-off', 'Pending'],
      ['Security review', 'Waiting'],
    ]);
    // My approvals lists a person only when their stage is open.
    expect((await myApprovals(bob())).body.items.map((i: { macroId: string }) => i.macroId)).not.toContain(SECURITY);
    expect((await myApprovals(ada())).body.items.find((i: { macroId: string }) => i.macroId === LEGAL)).toMatchObject({ stage: { position: 1, count: 2, current: 'Legal sign-off' } });

    const before = await head();
    const legal = (await api(ada(), LEGAL).get()).body;
    const approved = await api(ada(), LEGAL).decide({ decision: 'approve', comment: 'contract ok', pageVersion: legal.boundVersion });
    expect(approved.status).toBe(201);
    expect(approved.body).toMatchObject({ state: 'approved', stages: { position: 1, count: 2, current: 'Security review' } });
    const after1 = await events(before);
    expect(after1.map((e) => e.action)).toEqual(['decision.approved', 'workflow.approved', 'stage.approved', 'stage.opened']);
    expect(after1[0].data.stage).toEqual({ position: 1, count: 2, after: null });
    expect(after1[2].data).toMatchObject({ stage: { position: 1, count: 2, after: null }, next: 'Security review', sequenceApproved: false });
    expect(after1[3]).toMatchObject({ workflow: await workflowId(SECURITY), data: { stage: { position: 2, count: 2, after: 'Legal sign-off' }, workflowTitle: 'Security review' } });

    expect((await api(bob(), SECURITY).get()).body).toMatchObject({ stages: { opensAfter: null }, viewer: { canDecide: true } });
    expect((await myApprovals(bob())).body.items.find((i: { macroId: string }) => i.macroId === SECURITY)).toMatchObject({ stage: { position: 2, count: 2, current: 'Security review' } });
    const done = await api(bob(), SECURITY).decide({ decision: 'approve', comment: 'pentest ok', pageVersion: security.boundVersion });
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ state: 'approved', stages: { result: 'approved' } });
    const last = (await events(before)).filter((e) => e.action === 'stage.approved').pop()!;
    expect(last.data).toMatchObject({ stage: { position: 2, count: 2, after: 'Legal sign-off' }, next: null, sequenceApproved: true });
    expect((await render(ada(), LEGAL)).text).toMatch(/Stage 1 of 2 · This page: Approved/);
    // A PDF/Word export (the static render) says where each stage stands too.
    const exported = await d.exportPage(pageId(), ada());
    expect(exported.macros.find((m) => m.macroId === SECURITY)).toMatchObject({ status: 200, html: expect.stringContaining('Stage 2 of 2 · This page: Approved') });
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });

  it('an edit of the content sends both stages back to the start; a decision on the closed stage is refused with 409', async () => {
    const before = await head();
    await d.editPage(pageId(), { body: body('Vendor assessment, two stages, new hosting region.'), as: d.users.author.accountId });
    await t.pageEvents.settled();
    const resets = (await events(before)).filter((e) => e.action === 'stage.reset');
    expect(resets.map((e) => [e.data.stage.position, e.data.cause, e.data.round - e.data.previousRound])).toEqual(
      expect.arrayContaining([
        [1, 'edit', 1],
        [2, 'edit', 1],
      ]),
    );
    expect(resets).toHaveLength(2);
    const rows = await t.db('workflows').where({ client_key: d.clientKey, page_id: pageId() }).select('macro_id', 'state', 'round');
    expect(rows.every((r) => r.state === 'outdated' && r.round === 2)).toBe(true);

    const security = (await api(bob(), SECURITY).get()).body;
    const decisionsBefore = Number((await t.db('decisions').where({ client_key: d.clientKey }).count('* as n'))[0].n);
    const refused = await api(bob(), SECURITY).decide({ decision: 'approve', comment: '', pageVersion: security.boundVersion });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe('Opens after Legal sign-off.');
    expect((await d.exportPage(pageId(), ada())).macros.find((m) => m.macroId === SECURITY)?.html).toContain('Stage 2 of 2 · This page: At stage 1 of 2: Legal sign-off — Opens after Legal sign-off.');
    expect(Number((await t.db('decisions').where({ client_key: d.clientKey }).count('* as n'))[0].n)).toBe(decisionsBefore);
  });

  it("a rejection in stage 2 rejects the page's approval", async () => {
    const legal = (await api(ada(), LEGAL).get()).body;
    expect((await api(ada(), LEGAL).decide({ decision: 'approve', comment: 'still ok', pageVersion: legal.boundVersion })).status).toBe(201);
    const before = await head();
    const rejected = await api(bob(), SECURITY).decide({ decision: 'reject', comment: 'region not certified', pageVersion: legal.boundVersion });
    expect(rejected.status).toBe(201);
    expect(rejected.body).toMatchObject({ state: 'rejected', stages: { result: 'rejected', current: 'Security review' } });
    expect((await events(before)).map((e) => e.action)).toEqual(['decision.rejected', 'workflow.rejected', 'stage.rejected']);
    // Stage 1 stays approved, and says that the page's approval is rejected.
    const legalView = await render(ada(), LEGAL);
    expect(legalView.text).toMatch(/Stage 1 of 2 · This page: Rejected in Security review/);
    const dashboard = await request(t.baseUrl).get('/api/spaces/SEC/workflows').set('Authorization', `JWT ${d.contextJwt(ada(), { spaceKey: 'SEC' })}`);
    expect(dashboard.status).toBe(200);
    const ofPage = dashboard.body.items.filter((i: { pageId: string }) => i.pageId === pageId());
    expect(ofPage.map((i: { stage: unknown }) => i.stage)).toEqual(
      expect.arrayContaining([
        { position: 1, count: 2, result: 'rejected', current: 'Security review', opensAfter: null },
        { position: 2, count: 2, result: 'rejected', current: 'Security review', opensAfter: null },
      ]),
    );
  });

  it('expiry recertifies the whole sequence from stage 1', async () => {
    // A new version with a review interval on stage 1; both stages approved again.
    await d.editPage(pageId(), { body: body('Vendor assessment, yearly review.', { review: '30' }), as: d.users.author.accountId });
    await t.pageEvents.settled();
    await render(ada(), LEGAL);
    const v = (await api(ada(), LEGAL).get()).body.boundVersion;
    expect((await api(ada(), LEGAL).decide({ decision: 'approve', comment: '', pageVersion: v })).status).toBe(201);
    expect((await api(bob(), SECURITY).decide({ decision: 'approve', comment: '', pageVersion: v })).status).toBe(201);
    const before = await head();
    const expired = await t.approvals.expireDue(d.clientKey, new Date(Date.now() + 31 * DAY_MS));
    expect(expired.map((w) => w.macroId)).toEqual([LEGAL]);
    const after = await events(before);
    expect(after.map((e) => e.action)).toEqual(['workflow.expired', 'stage.reset', 'stage.reset']);
    expect(after.filter((e) => e.action === 'stage.reset').map((e) => [e.data.stage.position, e.data.cause])).toEqual([
      [1, 'expiry'],
      [2, 'expiry'],
    ]);
    const rows = await t.db('workflows').where({ client_key: d.clientKey, page_id: pageId() }).select('macro_id', 'state');
    expect(rows.every((r) => r.state === 'expired')).toBe(true);
    expect((await api(bob(), SECURITY).decide({ decision: 'approve', comment: '', pageVersion: v })).status).toBe(409);
  });

  it('a later stage first rendered after the stage before it was approved opens as it is created (stage.opened)', async () => {
    const onCall = d.pages.onCall.id;
    const first = d.pages.onCall.macroIds[0];
    const second = '3f1c0d2e-0000-4000-9000-0000000000a1';
    await d.editPage(onCall, {
      body:
        `<p>On-call, two stages.</p>${approvalsMacro(first, { title: 'Team lead', approvers: d.users.alice.accountId })}` +
        approvalsMacro(second, { title: 'Ops review', after: 'Team lead', approvers: bob() }),
      as: d.users.author.accountId,
    });
    await t.pageEvents.settled();
    // Only stage 1 has been rendered: it is not known yet to have a stage after it.
    expect((await request(t.baseUrl).get(d.macroUrl(d.users.alice.accountId, onCall, first).slice(t.baseUrl.length))).status).toBe(200);
    const token = `JWT ${d.contextJwt(d.users.alice.accountId, { pageId: onCall })}`;
    const v = (await request(t.baseUrl).get(`/api/pages/${onCall}/workflows/${first}`).set('Authorization', token)).body.boundVersion;
    expect((await request(t.baseUrl).post(`/api/pages/${onCall}/workflows/${first}/decisions`).set('Authorization', token).send({ decision: 'approve', pageVersion: v })).status).toBe(201);
    const before = await head();
    const res = await request(t.baseUrl).get(d.macroUrl(bob(), onCall, second).slice(t.baseUrl.length));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('data-testid="stage-gate"');
    expect((await events(before)).map((e) => [e.action, e.data.stage ?? null])).toEqual([
      ['workflow.created', null],
      ['stage.opened', { position: 2, count: 2, after: 'Team lead' }],
    ]);
  });

  it('the chain check, an independent recomputation and the CSV verifier pass on an export with every stage action; the stage column is held to the canonical text', async () => {
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
    const res = await request(t.baseUrl)
      .get('/api/evidence.csv')
      .set('Authorization', `JWT ${d.contextJwt(d.users.siteAdmin.accountId)}`)
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(res.status).toBe(200);
    const csv = res.body as Buffer;
    const rows: string[][] = parse(csv, { bom: true });
    expect(rows[0].slice(-2)).toEqual(['workflow_title', 'stage']);
    const data = rows.slice(1);
    const actions = new Set(data.map((r) => r[COL.action]));
    for (const a of ['stage.opened', 'stage.approved', 'stage.rejected', 'stage.reset']) expect(actions).toContain(a);
    const securityDecisions = data.filter((r) => r[COL.action].startsWith('decision.') && r[COL.workflow_title] === 'Security review');
    expect(securityDecisions.length).toBeGreaterThan(0);
    expect(securityDecisions.every((r) => r[COL.stage] === '2 of 2')).toBe(true);
    expect(data.filter((r) => r[COL.action].startsWith('decision.') && r[COL.workflow_title] === 'Legal sign-off').every((r) => r[COL.stage] === '1 of 2')).toBe(true);
    // Only the two staged pages' rows name a stage.
    expect(data.filter((r) => ![pageId(), d.pages.onCall.id].includes(r[COL.page_id]) && r[COL.stage] !== '')).toEqual([]);

    // Independent of src/audit: SHA-256 over 0x00 ‖ canonical, then 0x01 ‖ prev ‖ leaf, from the genesis hash.
    let prev = createHash('sha256').update(`attest-audit-v1\n${d.clientKey}`, 'utf8').digest();
    for (const r of data) {
      const leaf = createHash('sha256').update(Buffer.from([0])).update(r[COL.canonical], 'utf8').digest();
      const chain = createHash('sha256').update(Buffer.from([1])).update(prev).update(leaf).digest();
      expect([r[COL.leaf_hash], r[COL.prev_chain_hash], r[COL.chain_hash]]).toEqual([leaf.toString('hex'), prev.toString('hex'), chain.toString('hex')]);
      prev = chain;
    }

    const verify = (b: Buffer) => verifyEvidenceCsv(Readable.from([b]));
    expect(await verify(csv)).toMatchObject({ ok: true, rows: data.length });
    const toCsv = (rs: string[][], columns?: string[]) =>
      Buffer.from(stringify(rs, { ...CSV_STRINGIFY_OPTIONS, ...(columns ? { columns } : {}) }), 'utf8');
    const i = data.indexOf(securityDecisions[0]);
    const forged = data.map((r, k) => (k === i ? r.map((c, j) => (j === COL.stage ? '1 of 2' : c)) : r));
    const failed = await verify(toCsv(forged));
    expect(failed).toMatchObject({ ok: false, reason: `row ${i + 1} (seq ${data[i][COL.seq]}): stage column does not match canonical` });
    // CSVs exported before the column (18 columns) and before workflow_title (17) still verify.
    expect(await verify(toCsv(data.map((r) => r.slice(0, COL.stage)), rows[0].slice(0, COL.stage)))).toMatchObject({ ok: true });
    expect(await verify(toCsv(data.map((r) => r.slice(0, COL.workflow_title)), rows[0].slice(0, COL.workflow_title)))).toMatchObject({ ok: true });

    // The zip pack (format v5: chain.txt and the 19-column events.csv) verifies too.
    const zip = await request(t.baseUrl)
      .get('/api/evidence.zip')
      .set('Authorization', `JWT ${d.contextJwt(d.users.siteAdmin.accountId)}`)
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(zip.status).toBe(200);
    const file = path.join(tmp, 'pack.zip');
    fs.writeFileSync(file, zip.body as Buffer);
    expect(await verifyEvidenceFile(file, { strict: false })).toMatchObject({ ok: true, kind: 'zip', rows: data.length });
  });
});
