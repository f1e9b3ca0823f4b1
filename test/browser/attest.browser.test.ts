import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, BrowserContext, FrameLocator, Page } from 'playwright-core';
import { createPublicKey } from 'node:crypto';
import { verifyEvidenceFile } from '../../src/evidence/evidence-verifier';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * The iframes in a real browser (Debian's Chromium through playwright-core) on the devhost: an approver
 * decides through the macro, a space admin changes a setting through the screen, and screenshots of the
 * macro, the settings screen (both tabs), My approvals, the SOC 2 report and a page of ordered stages go to
 * test/artifacts/ on every run.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '../artifacts');
const WAIT = { timeout: 30_000 };

(fs.existsSync(CHROMIUM) ? describe : describe.skip)('Attest in a browser', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    t = await startTestApp();
    d = t.devhost!;
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 60_000,
      viewport: { width: 1100, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context.setDefaultTimeout(30_000);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await t?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  }, 60_000);

  const open = async (url: string, width = 1100): Promise<Page> => {
    const page = await context.newPage();
    await page.setViewportSize({ width, height: 900 });
    const problems: string[] = [];
    page.on('console', (m) => {
      // failed loads are reported below with their URL
      if ((m.type() === 'error' && !/^Failed to load resource/.test(m.text())) || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    (page as Page & { problems?: string[] }).problems = problems;
    await page.goto(`${t.baseUrl}${url}`, { waitUntil: 'load', timeout: 30_000 });
    return page;
  };
  const problemsOf = (page: Page) => (page as Page & { problems?: string[] }).problems ?? [];
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  const as = (role: keyof typeof d.users) => encodeURIComponent(d.users[role].accountId);

  it('an approver approves with a comment through the macro and sees the state change', async () => {
    const page = await open(`/devhost/wiki/spaces/ENG/pages/${d.pages.onCall.id}?as=${as('bob')}`);
    const frame = page.frameLocator('iframe');
    await frame.locator('[data-testid=state]').filter({ hasText: 'Pending' }).waitFor(WAIT);
    await shot(page, 'macro-pending.png');
    await frame.getByLabel(/Comment/).fill('Escalation path reviewed with the on-call team.');
    await frame.getByRole('button', { name: 'Approve' }).click();
    await frame.locator('[data-testid=state]').filter({ hasText: 'Approved' }).waitFor(WAIT);
    await frame.getByText('Escalation path reviewed with the on-call team.').first().waitFor(WAIT);
    await page.locator('.dh-flag', { hasText: 'Approved' }).waitFor(WAIT);
    await shot(page, 'macro-approved.png');
    const wf = await t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages.onCall.id }).first();
    expect(wf.state).toBe('approved');
    const [decision] = await t.db('decisions').where({ client_key: d.clientKey, workflow_id: wf.id });
    expect(decision).toMatchObject({ approver_id: d.users.bob.accountId, decision: 'approve', comment: 'Escalation path reviewed with the on-call team.' });
    // The click carried an Idempotency-Key (a UUID from the browser), recorded with the decision.
    const keys = await t.db('decision_requests').where({ client_key: d.clientKey, workflow_id: wf.id });
    expect(keys).toEqual([expect.objectContaining({ decision_id: decision.id, idempotency_key: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/) })]);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('the macro reuses its context token between calls, and asks for a fresh one when a call is refused (401)', async () => {
    const page = await open(`/devhost/wiki/spaces/ENG/pages/${d.pages.onCall.id}?as=${as('alice')}`);
    const minted: string[] = [];
    page.on('request', (r) => void (r.url().includes('/devhost/api/context-token') && minted.push(r.url())));
    await page.frameLocator('iframe').locator('[data-testid=state]').waitFor(WAIT);
    const macro = page.frames().find((f) => f.url().startsWith(`${t.baseUrl}/macro?`))!;
    const apiPath = `/api/pages/${d.pages.onCall.id}/workflows/${d.pages.onCall.macroIds[0]}`;
    const get = () => macro.evaluate((p) => (globalThis as unknown as { Attest: { api(m: string, u: string): Promise<{ state?: unknown }> } }).Attest.api('GET', p).then((v) => typeof v.state), apiPath);
    // After a call the macro holds a token (minted then, or before the listener was set): the next calls mint none.
    expect(await get()).toBe('string');
    const held = minted.length;
    expect([await get(), await get()]).toEqual(['string', 'string']);
    expect(minted.length).toBe(held);
    // The app refuses the token the macro holds (a reinstall, a clock apart): the call is made again with a fresh one.
    let refused = 0;
    await page.route(`**${apiPath}`, (route) => (refused++ === 0 ? route.fulfill({ status: 401, contentType: 'application/json', body: '{"error":{"message":"expired"}}' }) : route.continue()));
    expect(await get()).toBe('string');
    expect(refused).toBe(2);
    expect(minted.length).toBe(held + 1);
    await page.close();
  }, 60_000);

  it('a space admin changes settings through the screen and sees the space dashboard', async () => {
    // a few workflows for the dashboard: the macros render once
    for (const key of ['releaseChecklist', 'adrQueue', 'postmortem'] as const) {
      const res = await fetch(d.macroUrl(d.users.author.accountId, d.pages[key].id, d.pages[key].macroIds[0]));
      expect(res.status).toBe(200);
    }
    const page = await open(`/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`);
    const frame = page.frameLocator('iframe');
    await frame.locator('#space-settings-form').waitFor(WAIT);
    await frame.getByLabel('Allow the author of a page version to approve it').check();
    await frame.getByLabel('When the page is edited').selectOption('any');
    await frame.getByLabel('Remind approvers every (days)').fill('3');
    await frame.getByRole('button', { name: 'Save settings' }).click();
    await frame.locator('#settings-message', { hasText: 'Saved.' }).waitFor(WAIT);
    await frame.locator('#saved-by', { hasText: 'Ada Spaceadmin' }).waitFor(WAIT);
    await shot(page, 'space-settings.png');
    const row = await t.db('space_settings').where({ client_key: d.clientKey, space_key: 'ENG' }).first();
    expect(row.settings).toMatchObject({ allowSelfApproval: true, resetOnEdit: 'any', reminderCadenceDays: 3 });
    expect(row.updated_by).toBe(d.users.spaceAdmin.accountId);
    expect(await t.db('audit_events').where({ client_key: d.clientKey, action: 'settings.changed' })).toHaveLength(1);

    // A full check has run: its line's time is shown in the reader's zone (UTC on hover), not as server text.
    expect(await t.checkpoints.verifyFull(d.clientKey, new Date())).toBe(true);

    // the Workflows tab, by keyboard
    await frame.getByRole('tab', { name: 'Settings' }).focus();
    await page.keyboard.press('ArrowRight');
    await frame.locator('#workflows-table[data-loaded]').waitFor(WAIT);
    await frame.locator('#workflows-body tr').first().waitFor(WAIT);
    expect(await frame.locator('#workflows-body tr').count()).toBeGreaterThanOrEqual(3);
    await frame.getByRole('link', { name: 'Release checklist' }).waitFor(WAIT);
    const checked = frame.locator('#chain-status p', { hasText: 'Full check' }).locator('time[data-attest-time]');
    await checked.waitFor(WAIT);
    expect(await checked.getAttribute('title')).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    await shot(page, 'space-dashboard.png');
    await frame.getByLabel('Show').selectOption('archived');
    await frame.locator('#workflows-empty', { hasText: 'No archived workflows' }).waitFor(WAIT);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('a space admin downloads an evidence pack from the screen, and it verifies offline', async () => {
    const page = await open(`/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`);
    const frame = page.frameLocator('iframe');
    await frame.getByRole('tab', { name: 'Evidence' }).click();
    const downloading = page.waitForEvent('download', { timeout: 30_000 });
    await frame.getByRole('button', { name: 'Download evidence pack (zip)' }).click();
    const download = await downloading;
    const file = path.join(profile, 'evidence.zip');
    await download.saveAs(file);
    await frame.locator('#evidence-message', { hasText: 'The download has started' }).waitFor(WAIT);
    await shot(page, 'space-evidence.png');
    const result = await verifyEvidenceFile(file, { publicKey: createPublicKey(t.config.signingKey) });
    expect(result.ok).toBe(true);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('a space admin opens the SOC 2 report from the Evidence tab: no script runs, axe finds nothing serious, it prints', async () => {
    const page = await open(`/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`);
    const frame = page.frameLocator('iframe');
    await frame.getByRole('tab', { name: 'Evidence' }).click();
    const opening = context.waitForEvent('page', { timeout: 30_000 });
    await frame.getByRole('button', { name: 'View SOC 2 report' }).click();
    const report = await opening;
    const problems: string[] = [];
    report.on('console', (m) => problems.push(m.text()));
    report.on('pageerror', (e) => problems.push(String(e)));
    await report.waitForLoadState('load');
    expect(new URL(report.url()).pathname).toBe('/report/view');
    await report.getByRole('heading', { level: 1, name: 'SOC 2 evidence report — space ENG' }).waitFor(WAIT);
    await report.locator('#chain-result[data-ok=true]').waitFor(WAIT);
    // The decisions of the earlier tests are in it, each row naming its seqs.
    expect(await report.locator('#approvals tbody tr[data-seqs]').count()).toBeGreaterThanOrEqual(1);
    expect(await report.locator('svg[role=img]').count()).toBe(3);
    await frame.locator('#evidence-message', { hasText: 'The report opens in a new tab' }).waitFor(WAIT);
    await shot(report, 'soc2-report.png');
    const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    // The report's CSP forbids scripts, so axe is injected as the browser's own (privileged) evaluation.
    await report.evaluate(axeSource);
    const violations = (await report.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) =>
      r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.help))`)) as string[];
    expect(violations).toEqual([]);
    // A script in the page itself would not run: the report's own CSP says so.
    expect(await report.evaluate(`(() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.appendChild(s); return window.ran === 1; })()`)).toBe(false);
    await report.emulateMedia({ media: 'print' });
    await shot(report, 'soc2-report-print.png');
    expect(problems.filter((p) => !/Content Security Policy/.test(p))).toEqual([]);
    expect(problemsOf(page)).toEqual([]);
    await report.close();
    await page.close();
  }, 90_000);

  it('the macro editor shows the saved values, searches people and groups, and saves through AP.confluence.saveMacro', async () => {
    const pg = d.pages.releaseChecklist;
    const before = d.page(pg.id).version;
    const page = await open(`/devhost/wiki/spaces/ENG/pages/${pg.id}/edit-macro/${pg.macroIds[0]}?as=${as('author')}`);
    const frame = page.frameLocator('iframe');
    // reopening shows what is saved (getMacroData): the two approvers by name
    await frame.locator('#people-chosen li', { hasText: 'Alice Approver' }).waitFor(WAIT);
    await frame.locator('#people-chosen li', { hasText: 'Bob Approver' }).waitFor(WAIT);
    await frame.getByLabel('Add groups').fill('secu');
    await frame.getByRole('button', { name: 'Add security' }).click();
    // search results are a menu of people to add; someone already picked is marked so, not shown like a chip
    await frame.getByLabel('Add people').fill('Ali');
    const picked = frame.locator('#people-results button', { hasText: 'Alice Approver' });
    await picked.waitFor(WAIT);
    expect(await picked.getAttribute('aria-label')).toBe('Alice Approver (already added)');
    const look = (l: typeof picked) => l.evaluate((e) => { const c = (e as unknown as { ownerDocument: { defaultView: { getComputedStyle(x: unknown): { backgroundColor: string; borderRadius: string } } } }).ownerDocument.defaultView.getComputedStyle(e); return `${c.backgroundColor} ${c.borderRadius}`; });
    expect(await look(picked)).not.toBe(await look(frame.locator('#people-chosen li', { hasText: 'Alice Approver' })));
    await shot(page, 'macro-editor-search.png');
    await frame.getByLabel('Add people').fill('');
    await frame.getByLabel('A quorum of').check();
    await frame.getByRole('spinbutton', { name: 'Quorum' }).fill('2');
    await frame.getByLabel('Review interval (days, empty for never)').fill('30');
    await frame.getByLabel(/^Title/).fill('Release sign-off');
    await shot(page, 'macro-editor.png');
    await frame.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(new RegExp(`/pages/${pg.id}$`), WAIT);
    const after = d.page(pg.id);
    expect(after.version).toBe(before + 1);
    expect(after.body).toContain('<ac:parameter ac:name="groups">security</ac:parameter>');
    expect(after.body).toContain('<ac:parameter ac:name="rule">quorum</ac:parameter>');
    expect(after.body).toContain('<ac:parameter ac:name="quorum">2</ac:parameter>');
    expect(after.body).toContain('<ac:parameter ac:name="title">Release sign-off</ac:parameter>');
    const html = await (await fetch(d.macroUrl(d.users.alice.accountId, pg.id, pg.macroIds[0]))).text();
    expect(html).toContain('Needs 2 approvals from different people listed');
    expect(html).toContain('data-testid="title">Release sign-off</h2>');
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('My approvals lists what waits on the user', async () => {
    const page = await open(`/devhost/wiki/plugins/my-approvals?as=${as('alice')}`);
    const frame = page.frameLocator('iframe');
    await frame.locator('#my-approvals-list li').first().waitFor(WAIT);
    await frame.getByRole('link', { name: 'Release checklist' }).waitFor(WAIT);
    await shot(page, 'my-approvals.png');
    const empty = await open(`/devhost/wiki/plugins/my-approvals?as=${as('author')}`);
    await empty.frameLocator('iframe').locator('#my-approvals-empty').waitFor(WAIT);
    await shot(empty, 'my-approvals-empty.png');
    expect(problemsOf(page)).toEqual([]);
    await page.close();
    await empty.close();
  }, 60_000);

  /** The iframe is as tall as its content (all.js resizes it), with no blank space under it. */
  const expectSizedToContent = async (page: Page) => {
    const frame = page.frames().find((f) => f !== page.mainFrame())!;
    const gap = async () => {
      // the frame's border (1 px each side) is part of its box
      const outer = (await page.locator('iframe').boundingBox())!.height - 2;
      const inner = (await frame.evaluate('Math.ceil(document.body.getBoundingClientRect().height)')) as number;
      return Math.abs(outer - inner);
    };
    const until = Date.now() + 10_000;
    while ((await gap()) > 4 && Date.now() < until) await page.waitForTimeout(200);
    expect(await gap()).toBeLessThanOrEqual(4);
  };

  /** What a browser in `timeZone` shows for a moment, as Attest's <time> elements format it. */
  const inZone = (iso: string, locale: string, timeZone: string) => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(new Date(iso));
  const daysUntil = (day: string, timeZone: string) => {
    const today = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
    return Math.round((Date.parse(`${day}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86_400_000);
  };

  it('says why a reader cannot act, and since when a closed workflow is closed, in the reader\'s locale and time zone', async () => {
    // Nora reads the on-call handbook but is listed nowhere
    const nora = await open(`/devhost/wiki/spaces/ENG/pages/${d.pages.onCall.id}?as=${as('nora')}`);
    await nora.frameLocator('iframe').locator('[data-testid=reason]', { hasText: 'You are not an approver of this page; approvers: Alice Approver and Bob Approver.' }).waitFor(WAIT);
    await shot(nora, 'macro-reason-not-approver.png');
    // Paul lists himself on the SEC blog post, so he wrote version 2: separation of duties (ENG allows self-approval since the settings test)
    const blog = d.pages.securityUpdate;
    await d.saveMacro(blog.id, blog.macroIds[0], { approvers: `${d.users.bob.accountId},${d.users.author.accountId}`, rule: 'all' }, d.users.author.accountId);
    await t.pageEvents.settled();
    const author = await open(`/devhost/wiki/spaces/SEC/blog/${blog.id}?as=${as('author')}`);
    const af = author.frameLocator('iframe');
    await af.locator('[data-testid=reason]', { hasText: 'Someone other than the author of version 2 must approve: you wrote that version (separation of duties).' }).waitFor(WAIT);
    expect(await af.locator('form.attest-decide').count()).toBe(0);
    await shot(author, 'macro-reason-author.png');

    // Bob approves the on-call handbook (the first test did it through the macro): Alice (de-DE, Europe/Berlin) reads since when, in her time
    const onCall = await t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages.onCall.id }).first();
    if (onCall.state !== 'approved') {
      const res = await fetch(`${t.baseUrl}/api/pages/${d.pages.onCall.id}/workflows/${d.pages.onCall.macroIds[0]}/decisions`, {
        method: 'POST',
        headers: { Authorization: `JWT ${d.contextJwt(d.users.bob.accountId, { pageId: d.pages.onCall.id })}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ decision: 'approve', comment: '', pageVersion: onCall.bound_version }),
      });
      expect(res.status).toBe(201);
    }
    const alice = await open(`/devhost/wiki/spaces/ENG/pages/${d.pages.onCall.id}?as=${as('alice')}`);
    const frame = alice.frameLocator('iframe');
    await frame.locator('body[data-localised]').waitFor(WAIT);
    const closed = frame.locator('[data-testid=closed]');
    await expect(closed.textContent()).resolves.toMatch(/^Approved by Bob Approver since .+\. (Changing the page content|Any edit to the page) starts a new round of approvals\.$/); // ENG resets on any edit after the settings test
    const time = closed.locator('time');
    const iso = (await time.getAttribute('datetime'))!;
    expect(await time.textContent()).toBe(inZone(iso, 'de-DE', 'Europe/Berlin'));
    expect(await time.getAttribute('title')).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`);
    expect(await frame.locator('time[data-attest-date]').textContent()).toBe('31.12.2026');
    // nobody waits on a closed workflow: Alice did not decide, and is not shown as waiting
    await expect(frame.locator('.attest-table').textContent()).resolves.not.toMatch(/Waiting/);
    await shot(alice, 'macro-closed-local-time.png');
    for (const p of [nora, author, alice]) {
      expect(problemsOf(p)).toEqual([]);
      await p.close();
    }
  }, 90_000);

  it('tells two macros on one page apart in My approvals and the space dashboard, with due dates relative to today', async () => {
    const pg = d.pages.vendorRisk;
    const due = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    await d.saveMacro(pg.id, pg.macroIds[0], { ...d.page(pg.id).macros[0].params, title: 'Security sign-off', due }, d.users.author.accountId);
    await t.pageEvents.settled();
    for (const macroId of pg.macroIds) expect((await fetch(d.macroUrl(d.users.author.accountId, pg.id, macroId))).status).toBe(200);

    // Bob (en-US, America/New_York) in My approvals
    const mine = await open(`/devhost/wiki/plugins/my-approvals?as=${as('bob')}`);
    const mf = mine.frameLocator('iframe');
    await mf.locator('body[data-localised]').waitFor(WAIT);
    const item = mf.locator('#my-approvals-list li', { has: mf.locator('[data-testid=workflow-name]', { hasText: 'Security sign-off' }) });
    await item.waitFor(WAIT);
    const n = daysUntil(due, 'America/New_York');
    await expect(item.locator('time[data-attest-date]').textContent()).resolves.toBe(new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${due}T12:00:00Z`)));
    await expect(item.locator('.attest-relative').textContent()).resolves.toBe(` (${n === 1 ? 'tomorrow' : `in ${n} days`})`);
    await shot(mine, 'my-approvals-titled.png');
    await expectSizedToContent(mine);

    // the SEC dashboard: one row by title, the other by its place on the page
    const dash = await open(`/devhost/wiki/spaces/SEC/settings/attest?as=${as('spaceAdmin')}`);
    const df = dash.frameLocator('iframe');
    await df.getByRole('tab', { name: 'Workflows' }).click();
    await df.locator('#workflows-table[data-loaded]').waitFor(WAIT);
    const rows = df.locator('#workflows-body tr', { hasText: 'Vendor risk assessment' });
    await expect(rows.locator('.attest-workflow-name').allTextContents()).resolves.toEqual(expect.arrayContaining(['Security sign-off', 'Approvals 2 of 2']));
    await shot(dash, 'space-dashboard-titled.png');
    await expectSizedToContent(dash);
    for (const p of [mine, dash]) {
      expect(problemsOf(p)).toEqual([]);
      await p.close();
    }
  }, 90_000);

  it('works when the devhost is opened under the other name of this machine (localhost for 127.0.0.1)', async () => {
    const other = t.baseUrl.replace('//127.0.0.1:', '//localhost:');
    expect(other).not.toBe(t.baseUrl);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(m.text()); });
    await page.goto(`${other}/devhost/wiki/spaces/ENG/pages/${d.pages.releaseChecklist.id}?as=${as('bob')}`, { waitUntil: 'load', timeout: 30_000 });
    // the site moves to its one address, so the macro's frame is allowed and talks to its host
    expect(new URL(page.url()).origin).toBe(t.baseUrl);
    await page.frameLocator('iframe').locator('[data-testid=state]').waitFor(WAIT);
    await page.frameLocator('iframe').locator('body[data-localised]').waitFor(WAIT);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('offers editing and "Move to trash" only to people who may edit the page', async () => {
    // Nora reads the SEC space but may not add pages there; Sec Member may
    const nora = await open(`/devhost/wiki/spaces/SEC/pages/${d.pages.accessReview.id}?as=${as('nora')}`);
    await nora.locator('h1', { hasText: 'Quarterly access review' }).waitFor(WAIT);
    expect(await nora.getByRole('button', { name: 'Move to trash' }).count()).toBe(0);
    expect(await nora.locator('details.dh-edit').count()).toBe(0);
    const sec = await open(`/devhost/wiki/spaces/SEC/pages/${d.pages.accessReview.id}?as=${as('secMember')}`);
    await sec.getByRole('button', { name: 'Move to trash' }).waitFor(WAIT);
    // and the devhost refuses the action itself, as Confluence would
    const res = await fetch(`${t.baseUrl}/devhost/wiki/spaces/SEC/pages/${d.pages.accessReview.id}/status`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `as=${as('nora')}&action=trash`,
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    expect(d.store.pageOrThrow(d.pages.accessReview.id).status).toBe('current');
    await nora.close();
    await sec.close();
  }, 60_000);

  it('a space admin makes the calendar URL on the Calendar tab; a calendar client reads it; revoking ends it', async () => {
    // A due date in ENG that stays open whatever the other tests approve.
    const page0 = d.pages.releaseChecklist;
    await d.saveMacro(page0.id, page0.macroIds[0], { ...d.page(page0.id).macros[0].params, due: '2027-03-01' }, d.users.author.accountId);
    expect((await fetch(d.macroUrl(d.users.alice.accountId, page0.id, page0.macroIds[0]))).status).toBe(200);

    const page = await open(`/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`);
    const frame = page.frameLocator('iframe');
    await frame.getByRole('tab', { name: 'Calendar' }).click();
    await frame.locator('[data-testid=calendar-status]', { hasText: 'This space has no calendar URL.' }).waitFor(WAIT);
    await frame.getByRole('button', { name: 'Create calendar URL' }).click();
    const field = frame.getByLabel(/Calendar URL/);
    await frame.locator('#calendar-url-box:not([hidden])').waitFor(WAIT);
    const url = await field.inputValue();
    expect(url).toMatch(new RegExp(`^${t.baseUrl}/calendar/atcap_[A-Za-z0-9_-]{65}\\.ics$`));
    await frame.locator('[data-testid=calendar-status]', { hasText: 'name pages by id only' }).waitFor(WAIT);
    await shot(page, 'space-calendar.png');

    // What Outlook or Google would fetch: no JWT, no cookie.
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/calendar; charset=utf-8');
    const ics = await res.text();
    expect(ics).toContain(`SUMMARY:Approval due (page ${page0.id})`);
    expect(ics).not.toContain('Release checklist');

    await frame.getByRole('button', { name: 'Revoke the URL' }).click();
    await frame.locator('#calendar-message', { hasText: 'revoked' }).waitFor(WAIT);
    expect((await fetch(url)).status).toBe(404);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('has no serious or critical accessibility violation on any Attest screen (axe-core)', async () => {
    const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    const screens: Array<[string, string, (f: FrameLocator) => Promise<void>]> = [
      ['macro', `/devhost/wiki/spaces/ENG/pages/${d.pages.releaseChecklist.id}?as=${as('alice')}`, (f) => f.locator('[data-testid=state]').waitFor(WAIT)],
      ['macro (not an approver)', `/devhost/wiki/spaces/ENG/pages/${d.pages.onCall.id}?as=${as('nora')}`, (f) => f.locator('[data-testid=reason]').waitFor(WAIT)],
      ['space settings', `/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`, (f) => f.locator('#space-settings-form').waitFor(WAIT)],
      ['space dashboard', `/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`, async (f) => {
        await f.getByRole('tab', { name: 'Workflows' }).click();
        await f.locator('#workflows-table[data-loaded]').waitFor(WAIT);
      }],
      ['evidence', `/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`, (f) => f.getByRole('tab', { name: 'Evidence' }).click()],
      ['calendar', `/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`, async (f) => {
        await f.getByRole('tab', { name: 'Calendar' }).click();
        await f.locator('[data-testid=calendar-status]', { hasText: 'calendar URL' }).waitFor(WAIT);
      }],
      ['macro editor', `/devhost/wiki/spaces/ENG/pages/${d.pages.releaseChecklist.id}/edit-macro/${d.pages.releaseChecklist.macroIds[0]}?as=${as('author')}`, (f) => f.locator('#people-chosen li').first().waitFor(WAIT)],
      ['My approvals', `/devhost/wiki/plugins/my-approvals?as=${as('bob')}`, (f) => f.locator('#my-approvals-list li').first().waitFor(WAIT)],
      ['My approvals (empty)', `/devhost/wiki/plugins/my-approvals?as=${as('author')}`, (f) => f.locator('#my-approvals-empty').waitFor(WAIT)],
    ];
    const found: string[] = [];
    for (const [name, url, ready] of screens) {
      const page = await open(url);
      await ready(page.frameLocator('iframe'));
      const frame = page.frames().find((f) => f !== page.mainFrame())!;
      await frame.evaluate(axeSource);
      // The function runs in the page; a string keeps the DOM types out of this (node) tsconfig.
      const violations = (await frame.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) =>
        r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) })))`)) as Array<{ id: string; impact: string; help: string; targets: string[] }>;
      for (const v of violations) if (v.impact === 'serious' || v.impact === 'critical') found.push(`${name}: ${v.id} (${v.impact}) ${v.help} — ${v.targets.join(', ')}`);
      await page.close();
    }
    expect(found).toEqual([]);
  }, 180_000);

  it('stays readable at 320 px', async () => {
    for (const [url, name, ready] of [
      [`/devhost/wiki/spaces/ENG/pages/${d.pages.releaseChecklist.id}?as=${as('alice')}`, 'macro-320.png', '[data-testid=state]'],
      [`/devhost/wiki/spaces/ENG/settings/attest?as=${as('spaceAdmin')}`, 'space-settings-320.png', '#space-settings-form'],
      [`/devhost/wiki/plugins/my-approvals?as=${as('bob')}`, 'my-approvals-320.png', '#my-approvals'],
    ] as const) {
      const page = await open(url, 320);
      const frame = page.frameLocator('iframe');
      await frame.locator(ready).first().waitFor(WAIT);
      // nothing inside the iframe is wider than the iframe
      const overflow = await frame.locator('body').evaluate((b) => b.scrollWidth - b.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await shot(page, name);
      await page.close();
    }
  }, 60_000);

  it('Out of office: a person names a delegate in My approvals, and the delegate approves on their behalf in the macro', async () => {
    const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
    const mine = await open(`/devhost/wiki/plugins/my-approvals?as=${as('bob')}`);
    const mf = mine.frameLocator('iframe');
    await mf.locator('#ooo-none').waitFor(WAIT);
    await mf.getByLabel('Delegate').fill('Ali');
    await mf.getByRole('button', { name: 'Choose Alice Approver' }).click();
    await mf.getByLabel('First day').fill(day(0));
    await mf.getByLabel('Last day').fill(day(3));
    await shot(mine, 'out-of-office-form.png');
    await mf.getByRole('button', { name: 'Name delegate' }).click();
    await mf.locator('[data-testid=delegation-current]', { hasText: 'Alice Approver decides for you' }).waitFor(WAIT);
    await mf.getByRole('button', { name: 'End delegation' }).waitFor(WAIT);
    await shot(mine, 'out-of-office-set.png');
    expect(await t.db('delegations').where({ client_key: d.clientKey, delegator_id: d.users.bob.accountId, delegate_id: d.users.alice.accountId })).toEqual([
      expect.objectContaining({ starts_on: day(0), ends_on: day(3), ended_at: null }),
    ]);
    expect(problemsOf(mine)).toEqual([]);
    await mine.close();

    // Alice sees Bob's approvals on his behalf…
    const alice = await open(`/devhost/wiki/plugins/my-approvals?as=${as('alice')}`);
    await alice.frameLocator('iframe').locator('#my-approvals-list [data-testid=on-behalf]', { hasText: 'on behalf of Bob Approver' }).first().waitFor(WAIT);
    await shot(alice, 'my-approvals-on-behalf.png');
    await alice.close();

    // …and approves the SEC blog post for him through the macro
    const blog = d.pages.securityUpdate;
    const page = await open(`/devhost/wiki/spaces/SEC/blog/${blog.id}?as=${as('alice')}`);
    const frame = page.frameLocator('iframe');
    await frame.getByLabel('Decide for').selectOption({ label: `Bob Approver — on behalf, out of office through ${day(3)}` });
    await frame.getByLabel(/Comment/).fill('Approved for Bob while he is away.');
    await frame.getByRole('button', { name: 'Approve' }).click();
    await frame.locator('[data-testid=on-behalf]', { hasText: 'by Alice Approver on behalf of Bob Approver' }).waitFor(WAIT);
    await shot(page, 'macro-on-behalf.png');
    const wf = await t.db('workflows').where({ client_key: d.clientKey, page_id: blog.id }).first();
    expect(await t.db('decisions').where({ client_key: d.clientKey, workflow_id: wf.id, round: wf.round })).toEqual([
      expect.objectContaining({ approver_id: d.users.bob.accountId, delegate_id: d.users.alice.accountId, comment: 'Approved for Bob while he is away.' }),
    ]);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  }, 90_000);

  it('shows ordered stages as a sequence: stage 2 waits for stage 1, then opens for its approver', async () => {
    // The vendor page rewritten by hand in storage format: Legal sign-off (Ada), then Security review (Bob) after it.
    const pg = d.pages.vendorRisk;
    const [security, legal] = pg.macroIds;
    const macro = (id: string, params: Record<string, string>) =>
      `<ac:structured-macro ac:name="attest-approvals" ac:schema-version="1" ac:macro-id="${id}">${Object.entries(params).map(([k, v]) => `<ac:parameter ac:name="${k}">${v}</ac:parameter>`).join('')}</ac:structured-macro>`;
    await d.editPage(pg.id, {
      body: `<p>Two stages.</p>${macro(legal, { title: 'Legal sign-off', approvers: d.users.spaceAdmin.accountId })}${macro(security, { title: 'Security review', after: 'Legal sign-off', approvers: d.users.bob.accountId })}`,
      as: d.users.author.accountId,
    });
    await t.pageEvents.settled();
    // Each macro's workflow exists from its first render: stage 1's first, as a reader scrolling down would.
    for (const macroId of [legal, security]) expect((await fetch(d.macroUrl(d.users.author.accountId, pg.id, macroId))).status).toBe(200);
    const url = (role: keyof typeof d.users) => `/devhost/wiki/spaces/SEC/pages/${pg.id}?as=${as(role)}`;

    const waiting = await open(url('bob'));
    const second = waiting.frameLocator('iframe').nth(1);
    await second.locator('[data-testid=stage-gate]', { hasText: 'Opens after Legal sign-off.' }).waitFor(WAIT);
    await expect(second.locator('[data-testid=stages-where]').textContent()).resolves.toBe('Stage 2 of 2 · This page: At stage 1 of 2: Legal sign-off');
    await expect(second.locator('.attest-stage').allInnerTexts()).resolves.toEqual([expect.stringMatching(/Legal sign-off\s+Pending/i), expect.stringMatching(/Security review\s+Waiting/i)]);
    expect(await second.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await shot(waiting, 'macro-stages-waiting.png');

    const ada = await open(url('spaceAdmin'));
    const first = ada.frameLocator('iframe').first();
    await first.locator('[data-testid=stages-where]', { hasText: 'Stage 1 of 2' }).waitFor(WAIT);
    await first.getByRole('button', { name: 'Approve' }).click();
    await first.locator('[data-testid=state]').filter({ hasText: 'Approved' }).waitFor(WAIT);
    await first.locator('[data-testid=stages-where]', { hasText: 'This page: At stage 2 of 2: Security review' }).waitFor(WAIT);

    const open2 = await open(url('bob'));
    const now = open2.frameLocator('iframe').nth(1);
    await now.getByRole('button', { name: 'Approve' }).waitFor(WAIT);
    expect(await now.locator('[data-testid=stage-gate]').count()).toBe(0);
    await expect(now.locator('.attest-stage').allInnerTexts()).resolves.toEqual([expect.stringMatching(/Legal sign-off\s+Approved/i), expect.stringMatching(/Security review\s+Pending/i)]);
    await expect(now.locator('.attest-stage[aria-current=step]').innerText()).resolves.toMatch(/Security review/);
    await shot(open2, 'macro-stages.png');

    // My approvals now lists Bob's stage, and the SEC dashboard names each stage and where the page stands.
    const mine = await open(`/devhost/wiki/plugins/my-approvals?as=${as('bob')}`);
    await mine.frameLocator('iframe').locator('[data-testid=workflow-stage]', { hasText: 'Stage 2 of 2' }).waitFor(WAIT);
    const dash = await open(`/devhost/wiki/spaces/SEC/settings/attest?as=${as('spaceAdmin')}`);
    const df = dash.frameLocator('iframe');
    await df.getByRole('tab', { name: 'Workflows' }).click();
    await df.locator('#workflows-table[data-loaded]').waitFor(WAIT);
    const stageNames = df.locator('#workflows-body tr', { hasText: 'Vendor risk assessment' }).locator('.attest-workflow-stage');
    await stageNames.first().waitFor(WAIT);
    await expect(stageNames.allTextContents()).resolves.toEqual(
      expect.arrayContaining(['Stage 1 of 2 · current stage: Security review', 'Stage 2 of 2 · current stage: Security review']),
    );
    await shot(dash, 'space-dashboard-stages.png');
    for (const p of [waiting, ada, open2, mine, dash]) {
      expect(problemsOf(p)).toEqual([]);
      await p.close();
    }
  }, 90_000);
});
