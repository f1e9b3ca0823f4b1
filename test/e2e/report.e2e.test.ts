import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { HTMLElement, parse as parseHtml } from 'node-html-parser';
import request from 'supertest';
import { main } from '../../src/cli';
import { COL } from '../../src/evidence/evidence-csv';
import { verifyEvidenceFile } from '../../src/evidence/evidence-verifier';
import { ManualClock } from '../../src/lib/clock';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';
import { writeZipFile, zipEntries } from '../helpers/zip-files';

const DAY = 86_400_000;

/**
 * The SOC 2 report over activity that holds every exception kind, made through the whole stack (devhost JWTs,
 * webhooks, the recertification job, PostgreSQL). Each figure is checked against the audit events its row
 * names, read independently from the evidence CSV export.
 */
describe('SOC 2 report end to end', () => {
  const clock = new ManualClock('2026-12-21T09:00:00.000Z');
  const FROM = '2026-12-21';
  const TO = '2027-08-20';
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  let tmp: string;
  /** seq → the CSV row of that event (the site export, every column). */
  const events = new Map<number, string[]>();

  const as = (accountId: string, spaceKey?: string) => `JWT ${d.contextJwt(accountId, spaceKey ? { spaceKey } : {})}`;
  const at = (seq: number) => Date.parse(ev(seq)[COL.recorded_at]);
  const ev = (seq: number) => {
    const row = events.get(seq);
    if (!row) throw new Error(`seq ${seq} is not in the export`);
    return row;
  };
  const data = (seq: number) => JSON.parse(ev(seq)[COL.canonical]).data as Record<string, unknown>;
  const seqsOf = (el: HTMLElement) => (el.getAttribute('data-seqs') ?? '').split(' ').filter(Boolean).map(Number);

  async function decide(accountId: string, pageKey: keyof NonNullable<TestApp['devhost']>['pages'], decision: 'approve' | 'reject') {
    const api = macroRequests(t).api(accountId, pageKey);
    const wf = await api.get();
    expect(wf.status).toBe(200);
    const res = await api.decide({ decision, comment: `${decision} ${pageKey}`, pageVersion: wf.body.boundVersion });
    expect(res.status).toBe(201);
  }
  async function edit(pageKey: keyof NonNullable<TestApp['devhost']>['pages']) {
    const page = d.pages[pageKey];
    await d.editPage(page.id, { body: `${d.page(page.id).body}<p>Edited ${clock.now().toISOString()}.</p>`, as: d.users.author.accountId });
    await t.pageEvents.settled();
  }
  const render = async (pageKey: keyof NonNullable<TestApp['devhost']>['pages']) => expect((await macroRequests(t).render(d.users.alice.accountId, pageKey)).status).toBe(200);
  const state = async (pageKey: keyof NonNullable<TestApp['devhost']>['pages']) =>
    (await t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages[pageKey].id }).first()).state as string;

  async function report(url: string, accountId: string) {
    const res = await request(t.baseUrl).get(url).set('Authorization', as(accountId));
    return res;
  }

  beforeAll(async () => {
    t = await startTestApp({ clock, auditClock: clock });
    d = t.devhost!;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-report-'));
    const { alice, bob, secMember, spaceAdmin } = d.users;
    // ENG: approved, then changed and never re-approved.
    await render('releaseChecklist');
    clock.advance(3_600_000);
    await decide(alice.accountId, 'releaseChecklist', 'approve');
    clock.advance(2 * 3_600_000);
    await decide(bob.accountId, 'releaseChecklist', 'approve');
    expect(await state('releaseChecklist')).toBe('approved');
    clock.advance(2 * DAY);
    await edit('releaseChecklist');
    expect(await state('releaseChecklist')).toBe('outdated');
    // ENG: rejected.
    await render('adrQueue');
    clock.advance(DAY);
    await decide(bob.accountId, 'adrQueue', 'reject');
    expect(await state('adrQueue')).toBe('rejected');
    // ENG: due 2026-12-31, approved late (overdue from 2027-01-01 to the approval).
    await render('onCall');
    // SEC: approved with a 90-day review interval.
    await render('accessReview');
    clock.set('2027-01-04T10:00:00.000Z');
    await decide(secMember.accountId, 'accessReview', 'approve');
    clock.set('2027-01-05T12:00:00.000Z');
    await decide(bob.accountId, 'onCall', 'approve');
    expect(await state('onCall')).toBe('approved');
    // ENG's admin keeps approvals through edits; the next edit of an approved page is an exception kept by policy.
    clock.set('2027-01-06T08:00:00.000Z');
    const defaults = (await request(t.baseUrl).get('/api/spaces/ENG/settings').set('Authorization', as(spaceAdmin.accountId, 'ENG'))).body.settings;
    const put = await request(t.baseUrl).put('/api/spaces/ENG/settings').set('Authorization', as(spaceAdmin.accountId, 'ENG')).send({ ...defaults, resetOnEdit: 'never' });
    expect(put.status).toBe(200);
    clock.set('2027-01-07T08:00:00.000Z');
    await edit('onCall');
    expect(await state('onCall')).toBe('approved');
    // SEC: changed and re-approved before the review fell due (on time) ...
    clock.set('2027-02-01T08:00:00.000Z');
    await edit('accessReview');
    expect(await state('accessReview')).toBe('outdated');
    clock.set('2027-02-02T08:00:00.000Z');
    await decide(secMember.accountId, 'accessReview', 'approve');
    // ... then expired and re-approved late ...
    clock.set('2027-05-04T08:00:00.000Z');
    expect(await t.approvals.expireDue(d.clientKey, clock.now())).toHaveLength(1);
    clock.set('2027-05-08T20:00:00.000Z');
    await decide(secMember.accountId, 'accessReview', 'approve');
    // ... then expired again and not re-approved (missed).
    clock.set('2027-08-07T08:00:00.000Z');
    expect(await t.approvals.expireDue(d.clientKey, clock.now())).toHaveLength(1);
    clock.set(`${TO}T00:00:00.000Z`);

    const csv = await request(t.baseUrl).get('/api/evidence.csv').set('Authorization', as(d.users.siteAdmin.accountId)).buffer(true);
    expect(csv.status).toBe(200);
    const rows: string[][] = parseCsv(csv.text, { bom: true, relax_column_count: true });
    for (const r of rows.slice(1)) events.set(Number(r[COL.seq]), r);
  });
  afterAll(async () => {
    await t?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('the site report (every space)', () => {
    let doc: HTMLElement;
    const periodFrom = Date.parse(`${FROM}T00:00:00Z`);
    const periodTo = Date.parse(`${TO}T00:00:00Z`);
    beforeAll(async () => {
      const res = await report(`/api/report.html?from=${FROM}&to=${TO}`, d.users.siteAdmin.accountId);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      doc = parseHtml(res.text);
      fs.writeFileSync(path.join(tmp, 'site.html'), res.text);
    });

    it('is self-contained: no script, no external resource', () => {
      expect(doc.querySelectorAll('script')).toHaveLength(0);
      expect(doc.querySelectorAll('link')).toHaveLength(0);
      for (const el of doc.querySelectorAll('[src], [href]')) expect(el.getAttribute('href') ?? '').toMatch(/^#/);
      expect(doc.querySelectorAll('svg')).toHaveLength(3);
    });

    it('lists every exception kind, each resting on the events it names, with how long it stayed open', () => {
      const rows = doc.querySelectorAll('#exceptions tbody tr');
      const kinds = rows.map((r) => r.getAttribute('data-kind'));
      expect(new Set(kinds)).toEqual(new Set(['changed-after-approval', 'changed-kept-by-policy', 'approval-expired', 'rejected', 'review-overdue']));
      for (const r of rows) {
        const seqs = seqsOf(r);
        const kind = r.getAttribute('data-kind');
        const first = ev(seqs[0]);
        const wf = r.getAttribute('data-workflow')!;
        for (const s of seqs) expect(ev(s)[COL.workflow_id]).toBe(wf);
        let opened = at(seqs[0]);
        if (kind === 'changed-after-approval') {
          expect(first[COL.action]).toBe('workflow.outdated');
          expect(data(seqs[0]).previousState).toBe('approved');
        } else if (kind === 'changed-kept-by-policy') {
          expect(first[COL.action]).toBe('workflow.rebound');
          expect(data(seqs[0])).toMatchObject({ previousState: 'approved', contentChanged: true, resetOnEdit: 'never' });
        } else if (kind === 'approval-expired') {
          expect(first[COL.action]).toBe('workflow.expired');
        } else if (kind === 'rejected') {
          expect(first[COL.action]).toBe('workflow.rejected');
        } else {
          // Overdue from the day after the due date that this event set.
          expect(first[COL.action]).toBe('workflow.created');
          const due = (data(seqs[0]).config as { due: string }).due;
          opened = Date.parse(`${due}T00:00:00Z`) + DAY;
        }
        expect(Date.parse(r.getAttribute('data-opened')!)).toBe(opened);
        const closed = r.getAttribute('data-closed');
        const end = closed ? at(seqs[seqs.length - 1]) : periodTo;
        if (closed) expect(ev(seqs[seqs.length - 1])[COL.action]).toBe('workflow.approved');
        expect(Number(r.getAttribute('data-open-ms'))).toBe(end - opened);
      }
      // Still-open ones first.
      const open = rows.map((r) => r.getAttribute('data-closed') === '');
      expect(open).toEqual([...open].sort((a, b) => Number(b) - Number(a)));
      const overdue = rows.find((r) => r.getAttribute('data-kind') === 'review-overdue')!;
      expect(Number(overdue.getAttribute('data-open-ms'))).toBe(Date.parse('2027-01-05T12:00:00Z') - Date.parse('2027-01-01T00:00:00Z'));
      expect(doc.querySelector('[data-figure="exceptions"] b')!.text).toBe(String(rows.length));
    });

    it('shows each page\'s state at the period end, the version approved, and who approved it, from the events named', () => {
      const rows = doc.querySelectorAll('#approvals tbody tr');
      expect(rows.map((r) => r.getAttribute('data-state')).sort()).toEqual(['approved', 'expired', 'outdated', 'rejected']);
      for (const r of rows) {
        const wf = r.getAttribute('data-workflow')!;
        const stateSeq = Number(r.getAttribute('data-state-seq'));
        expect(seqsOf(r)).toContain(stateSeq);
        // The state comes from the last workflow event before the period end.
        const last = [...events.values()].filter((e) => e[COL.workflow_id] === wf && e[COL.action].startsWith('workflow.') && e[COL.action] !== 'workflow.rebound').pop()!;
        expect(Number(last[COL.seq])).toBe(stateSeq);
        const approvedSeq = r.getAttribute('data-approved-seq');
        if (!approvedSeq) continue;
        expect(ev(Number(approvedSeq))[COL.action]).toBe('workflow.approved');
        expect(r.querySelectorAll('td')[2].text).toBe(ev(Number(approvedSeq))[COL.page_version]);
        // Who approved: the approve decisions the row names, shown as the CSV shows them.
        const decisions = seqsOf(r).filter((s) => ev(s)[COL.action] === 'decision.approved');
        expect(decisions.length).toBeGreaterThan(0);
        for (const s of decisions) expect(r.querySelectorAll('td')[3].text).toContain(ev(s)[COL.actor_account_id]);
      }
      const release = rows.find((r) => r.getAttribute('data-state') === 'outdated')!;
      expect(release.querySelectorAll('td')[3].text).toContain(d.users.alice.accountId);
      expect(release.querySelectorAll('td')[3].text).toContain(d.users.bob.accountId);
    });

    it('counts recertifications due in the period: on time, late and missed, against the approvals and expiries named', () => {
      const rows = doc.querySelectorAll('#recert tbody tr');
      expect(rows.map((r) => r.getAttribute('data-outcome'))).toEqual(['on time', 'late', 'missed']);
      for (const r of rows) {
        const seqs = seqsOf(r);
        expect(ev(seqs[0])[COL.action]).toBe('workflow.approved');
        const due = at(seqs[0]) + 90 * DAY;
        expect(Date.parse(r.getAttribute('data-due')!)).toBe(due);
        const outcome = r.getAttribute('data-outcome');
        if (outcome === 'on time') expect(at(seqs[1])).toBeLessThanOrEqual(due);
        if (outcome === 'late') {
          expect(ev(seqs[1])[COL.action]).toBe('workflow.expired');
          expect(ev(seqs[2])[COL.action]).toBe('workflow.approved');
          expect(Number(r.getAttribute('data-late-ms'))).toBe(at(seqs[2]) - due);
        }
        if (outcome === 'missed') expect(ev(seqs[1])[COL.action]).toBe('workflow.expired');
      }
      for (const [figure, n] of [['recert-due', 3], ['recert-on-time', 1], ['recert-late', 1], ['recert-missed', 1]] as const) {
        expect(doc.querySelector(`[data-figure="${figure}"] b`)!.text).toBe(String(n));
      }
    });

    it('shows the settings change with who, when, before and after, and who may approve', () => {
      const rows = doc.querySelectorAll('#settings-changes tbody tr');
      expect(rows).toHaveLength(1);
      const seq = seqsOf(rows[0])[0];
      expect(ev(seq)[COL.action]).toBe('settings.changed');
      expect(ev(seq)[COL.actor_account_id]).toBe(d.users.spaceAdmin.accountId);
      expect(rows[0].getAttribute('data-field')).toBe('resetOnEdit');
      const cells = rows[0].querySelectorAll('td').map((c) => c.text);
      expect(cells.slice(1, 6)).toEqual(['ENG', d.users.spaceAdmin.accountId, 'resetOnEdit', 'content', 'never']);
      const eng = doc.querySelector('table.settings[data-space="ENG"]')!;
      expect(seqsOf(eng)).toEqual([seq]);
      expect(eng.text).toContain('never');
      // Approvers are as the configuration event names them (refs shown as the account id the export links them to).
      const approvers = doc.querySelectorAll('#approvers tbody tr');
      expect(approvers.length).toBe(4);
      for (const r of approvers) {
        const config = data(seqsOf(r)[0]);
        const c = (config.config ?? config.after) as { rule: string; groups: string[] };
        expect(r.querySelectorAll('td')[1].text).toBe(c.rule);
      }
    });

    it('charts decisions per week and request-to-approval times that add up to the events named', () => {
      const weeks = doc.querySelectorAll('#weeks tbody tr');
      let approve = 0;
      let reject = 0;
      const named: number[] = [];
      for (const w of weeks) {
        approve += Number(w.getAttribute('data-approve'));
        reject += Number(w.getAttribute('data-reject'));
        const seqs = (w.getAttribute('data-decision-seqs') ?? '').split(' ').filter(Boolean).map(Number);
        named.push(...seqs);
        const start = Date.parse(`${w.getAttribute('data-week')}T00:00:00Z`);
        for (const s of seqs) expect(at(s) >= start && at(s) < start + 7 * DAY).toBe(true);
        expect(seqs.filter((s) => ev(s)[COL.action] === 'decision.approved')).toHaveLength(Number(w.getAttribute('data-approve')));
      }
      const decisions = [...events.values()].filter((e) => e[COL.action].startsWith('decision.') && at(Number(e[COL.seq])) >= periodFrom);
      expect(named.sort((a, b) => a - b)).toEqual(decisions.map((e) => Number(e[COL.seq])));
      expect(approve + reject).toBe(decisions.length);
      expect(reject).toBe(1);
      const times = doc.querySelectorAll('#request-to-approval tbody tr').map((r) => {
        const [fromSeq, toSeq] = seqsOf(r);
        expect(ev(toSeq)[COL.action]).toBe('workflow.approved');
        expect(ev(fromSeq)[COL.workflow_id]).toBe(ev(toSeq)[COL.workflow_id]);
        expect(['workflow.created', 'workflow.outdated', 'workflow.expired']).toContain(ev(fromSeq)[COL.action]);
        expect(Number(r.getAttribute('data-ms'))).toBe(at(toSeq) - at(fromSeq));
        return at(toSeq) - at(fromSeq);
      });
      expect(times).toHaveLength([...events.values()].filter((e) => e[COL.action] === 'workflow.approved').length);
      const sorted = times.sort((a, b) => a - b);
      expect(Number(doc.querySelector('[data-figure="rta-median"]')!.getAttribute('data-ms'))).toBe(sorted[Math.ceil(0.5 * sorted.length) - 1]);
      expect(Number(doc.querySelector('[data-figure="rta-p90"]')!.getAttribute('data-ms'))).toBe(sorted[Math.ceil(0.9 * sorted.length) - 1]);
      // Overdue over time: the onCall review was overdue at the end of the week of 2026-12-28 only.
      const overdue = weeks.filter((w) => w.getAttribute('data-overdue') !== '0').map((w) => w.getAttribute('data-week'));
      expect(overdue).toEqual(['2026-12-28']);
    });

    it('states the chain verification, the checkpoints over the period and the key fingerprint', async () => {
      const chain = doc.querySelector('#chain-result')!;
      expect(chain.getAttribute('data-ok')).toBe('true');
      const lastSeq = Math.max(...events.keys());
      // The report signed the head first (as an export does): every event up to that checkpoint was re-checked.
      expect(Number(chain.getAttribute('data-last-seq'))).toBeGreaterThanOrEqual(lastSeq);
      const cps = doc.querySelectorAll('#checkpoints tbody tr');
      expect(cps.length).toBeGreaterThan(0);
      for (const c of cps) {
        expect(c.text).toContain('valid');
        expect(c.text).toContain('matches the chain');
        const row = await t.db('audit_checkpoints').where({ client_key: d.clientKey, seq: seqsOf(c)[0] }).first();
        expect(row).toBeTruthy();
      }
      const key = await request(t.baseUrl).get('/checkpoint-key');
      expect(doc.querySelector('#key-id')!.text).toBe(key.body.keyId);
      expect(doc.querySelector('#integrity pre')!.text).toContain(`attest verify evidence-pack.zip --key-id ${key.body.keyId}`);
    });
  });

  it('a space report shows only that space, and every seq it names is an event of that space', async () => {
    const res = await report(`/api/spaces/ENG/report.html?from=${FROM}&to=${TO}`, d.users.spaceAdmin.accountId);
    expect(res.status).toBe(200);
    const doc = parseHtml(res.text);
    expect(doc.querySelectorAll('#approvals tbody tr')).toHaveLength(3);
    expect(res.text).not.toContain('Quarterly access review');
    const named = doc.querySelectorAll('#change-management [data-seqs], #access [data-seqs], #recertification [data-seqs], #charts [data-seqs]').flatMap(seqsOf);
    expect(named.length).toBeGreaterThan(10);
    for (const s of named) expect(ev(s)[COL.space_key]).toBe('ENG');
    expect(doc.querySelectorAll('#recert tbody tr[data-outcome]')).toHaveLength(0);
    // No raw accountId the ENG export would not show.
    expect(res.text).not.toContain(d.users.secMember.accountId);
  });

  it('without a space, a space admin who is not a site admin gets the spaces they administer', async () => {
    const res = await report(`/api/report.html?from=${FROM}&to=${TO}`, d.users.spaceAdmin.accountId);
    expect(res.status).toBe(200);
    const doc = parseHtml(res.text);
    expect(doc.querySelector('h1')!.text).toBe('SOC 2 evidence report — the spaces you administer (ENG, SEC)');
    const spaces = new Set(doc.querySelectorAll('#approvals tbody tr').flatMap(seqsOf).map((s) => ev(s)[COL.space_key]));
    expect(spaces).toEqual(new Set(['ENG', 'SEC']));
  });

  it('refuses people who may not export the space, and bad input with a plain 400', async () => {
    expect((await report(`/api/spaces/ENG/report.html`, d.users.nora.accountId)).status).toBe(403);
    expect((await report(`/api/report.html`, d.users.bob.accountId)).status).toBe(403);
    expect((await request(t.baseUrl).get('/api/spaces/ENG/report.html')).status).toBe(401);
    for (const q of ['from=yesterday', 'from=2027-02-01&to=2027-01-01', 'to=2027-13-01', 'download=yes', 'extra=1']) {
      const res = await report(`/api/spaces/ENG/report.html?${q}`, d.users.spaceAdmin.accountId);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: { status: 400, message: expect.any(String) } });
      expect(res.body.error.message).not.toMatch(/\.ts:\d+|Error:/);
    }
    expect((await report(`/api/spaces/bad%20key/report.html`, d.users.spaceAdmin.accountId)).status).toBe(400);
  });

  it('the Evidence tab\'s link opens the report and downloads it; a forged or reused-elsewhere token does not', async () => {
    const link = await request(t.baseUrl).post('/api/spaces/ENG/report-links').set('Authorization', as(d.users.spaceAdmin.accountId, 'ENG')).send({ from: FROM, to: TO });
    expect(link.status).toBe(201);
    const view = await request(t.baseUrl).get(link.body.url.slice(t.baseUrl.length));
    expect(view.status).toBe(200);
    expect(view.headers['content-disposition']).toMatch(/^inline; filename="attest-soc2-report-ENG-\d{4}-\d{2}-\d{2}\.html"$/);
    expect(view.text).toContain('SOC 2 evidence report — space ENG');
    const download = await request(t.baseUrl).get(link.body.downloadUrl.slice(t.baseUrl.length));
    expect(download.status).toBe(200);
    expect(download.headers['content-disposition']).toMatch(/^attachment;/);
    // An evidence-download token is not a report token, and the other way round.
    const evidence = await request(t.baseUrl).post('/api/spaces/ENG/evidence-links').set('Authorization', as(d.users.spaceAdmin.accountId, 'ENG')).send({ format: 'csv' });
    const token = new URL(evidence.body.url).searchParams.get('token')!;
    expect((await request(t.baseUrl).get(`/report/view?token=${encodeURIComponent(token)}`)).status).toBe(401);
    const reportToken = new URL(link.body.url).searchParams.get('token')!;
    expect((await request(t.baseUrl).get(`/evidence/download?token=${encodeURIComponent(reportToken)}`)).status).toBe(401);
    expect((await request(t.baseUrl).post('/api/spaces/ENG/report-links').set('Authorization', as(d.users.nora.accountId, 'ENG')).send({})).status).toBe(403);
  });

  const readZip = zipEntries;

  it('the evidence pack carries report.html under its signed manifest; the verifier catches a changed report', async () => {
    const res = await request(t.baseUrl)
      .get(`/api/spaces/ENG/evidence.zip?from=${FROM}&to=${TO}`)
      .set('Authorization', as(d.users.spaceAdmin.accountId))
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(res.status).toBe(200);
    const files = await readZip(res.body);
    const html = files.get('report.html')!.toString('utf8');
    expect(html).toContain('SOC 2 evidence report — space ENG');
    const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8'));
    expect(manifest.files['report.html'].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(files.get('SHA256SUMS')!.toString('utf8')).toContain(`${manifest.files['report.html'].sha256}  report.html`);
    expect(files.get('VERIFY.md')!.toString('utf8')).toContain('report.html');
    // The pack's report names only events of ENG that its events.csv shows in full.
    const csvRows: string[][] = parseCsv(files.get('events.csv')!, { bom: true, relax_column_count: true });
    const shown = new Map(csvRows.slice(1).filter((r) => r[COL.canonical]).map((r) => [Number(r[COL.seq]), r]));
    for (const s of parseHtml(html).querySelectorAll('#change-management [data-seqs]').flatMap(seqsOf)) expect(shown.get(s)?.[COL.space_key]).toBe('ENG');

    const good = path.join(tmp, 'pack.zip');
    fs.writeFileSync(good, res.body);
    const verified = await verifyEvidenceFile(good, { publicKey: createPublicKey(t.config.signingKey) });
    expect(verified.ok ? null : verified.reason).toBeNull();
    const bad = path.join(tmp, 'tampered.zip');
    await writeZipFile([...files].map(([n, b]) => [n, n === 'report.html' ? Buffer.from(b.toString('utf8').replace('Verified.', 'Verifiad.')) : b]), bad);
    const r = await verifyEvidenceFile(bad, { publicKey: createPublicKey(t.config.signingKey) });
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain('report.html does not match its SHA-256');
  });

  it('attest report writes the same report from the database; bad arguments are plain errors', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const ctx = { env: { DATABASE_URL: t.tdb.url, PATH: process.env.PATH ?? '' }, out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const file = path.join(tmp, 'cli-report.html');
    expect(await main(['report', '--client-key', d.clientKey, '--space', 'ENG', '--from', FROM, '--to', TO, '-o', file], ctx)).toBe(0);
    const doc = parseHtml(fs.readFileSync(file, 'utf8'));
    const web = parseHtml((await report(`/api/spaces/ENG/report.html?from=${FROM}&to=${TO}`, d.users.spaceAdmin.accountId)).text);
    const rowsOf = (h: HTMLElement, sel: string, attr = 'data-seqs') => h.querySelectorAll(`${sel} tbody tr`).map((r) => r.getAttribute(attr));
    for (const sel of ['#exceptions', '#approvals', '#settings-changes', '#recert']) expect(rowsOf(doc, sel)).toEqual(rowsOf(web, sel));
    // The CLI runs on the system clock, which in this test is months before the seeded events: what is open is
    // measured up to its time, so only the weeks' decisions (not the overdue counts) can be the same.
    expect(rowsOf(doc, '#weeks', 'data-decision-seqs')).toEqual(rowsOf(web, '#weeks', 'data-decision-seqs'));
    expect(doc.querySelector('#chain-result')!.getAttribute('data-ok')).toBe('true');
    for (const [args, msg] of [
      [['--space', 'ENG', '-o', file], '--client-key KEY is required'],
      [['--client-key', d.clientKey], '-o FILE is required'],
      [['--client-key', d.clientKey, '--from', 'yesterday', '-o', file], '--from must be an ISO date'],
      [['--client-key', d.clientKey, '--from', TO, '--to', FROM, '-o', file], '--from must be before --to'],
      [['--client-key', d.clientKey, '--space', 'no such', '-o', file], '--space must be a Confluence space key'],
      [['--client-key', 'nobody', '-o', file], 'has no audit events'],
    ] as const) {
      err.length = 0;
      expect(await main(['report', ...args], ctx)).toBe(2);
      expect(err.join('\n')).toContain(msg);
    }
  });
});
