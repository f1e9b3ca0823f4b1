import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { checkpointMessage } from '../../src/audit/checkpoint-format';
import { main } from '../../src/cli';
import { ManualClock } from '../../src/lib/clock';
import { startTestApp, TestApp } from '../helpers/test-app';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/**
 * Scheduled duties on two app instances sharing one database, driven tick by tick with a manual
 * clock (node-cron is never waited for).
 */
describe('scheduled duties end to end', () => {
  let a: TestApp;
  let b: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  const clock = new ManualClock('2026-03-02T09:00:00.000Z');
  // Instances of one deployment share their keys, as production's environment gives them.
  const keys = {
    ATTEST_SECRET_KEY: randomBytes(32).toString('hex'),
    ATTEST_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
  beforeAll(async () => {
    a = await startTestApp({ clock, env: keys });
    // A second instance on the same database (no devhost of its own: it reaches a's through ACE).
    b = await startTestApp({ clock, database: a.tdb, devhost: false, env: { ...keys, ATTEST_PRIVACY_URL: `${a.baseUrl}/devhost` } });
    d = a.devhost!;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  type PageName = keyof typeof d.pages;
  const page = (name: PageName) => d.pages[name];
  const render = (as: string, name: PageName) =>
    request(a.baseUrl).get(d.macroUrl(as, page(name).id, page(name).macroIds[0]).slice(a.baseUrl.length));
  const decide = async (as: string, name: PageName, decision: 'approve' | 'reject' = 'approve') => {
    const wf = await workflow(name);
    const res = await request(a.baseUrl)
      .post(`/api/pages/${page(name).id}/workflows/${page(name).macroIds[0]}/decisions`)
      .set('Authorization', `JWT ${d.contextJwt(as, { pageId: page(name).id })}`)
      .send({ decision, comment: decision === 'reject' ? 'no' : 'ok', pageVersion: wf.bound_version });
    expect(res.status).toBe(201);
    return res.body;
  };
  const workflow = (name: PageName) => a.db('workflows').where({ client_key: d.clientKey, page_id: page(name).id }).first();
  const events = (action: string) => a.db('audit_events').where({ client_key: d.clientKey, action }).orderBy('seq');
  /** The same tick on both instances at once: returns how many actually ran it. */
  const both = async (job: string, tick: Date) => {
    const results = await Promise.all([a.scheduler.runDue(job, tick), b.scheduler.runDue(job, tick)]);
    for (const r of results) if (r.ran) expect([r.outcome, r.counts.failed ?? 0, r.counts.tenantErrors]).toEqual(['ok', 0, 0]);
    return results.filter((r) => r.ran).length;
  };
  const reminderComments = (name: PageName) => d.comments(page(name).id).filter((c) => c.body.includes('Approval reminder'));

  it('expires an approved workflow once its review interval has passed, once per tick across instances', async () => {
    await render(d.users.alice.accountId, 'accessReview');
    expect((await decide(d.users.secMember.accountId, 'accessReview')).state).toBe('approved');
    const approved = await workflow('accessReview');
    expect(approved.review_days).toBe(90);

    clock.advance(89 * DAY);
    expect(await both('recertification', clock.now())).toBe(1);
    expect((await workflow('accessReview')).state).toBe('approved');

    clock.advance(2 * DAY);
    const tick = clock.now();
    expect(await both('recertification', tick)).toBe(1);
    expect(await workflow('accessReview')).toMatchObject({ state: 'expired', round: approved.round + 1 });
    const expired = await events('workflow.expired');
    expect(expired).toHaveLength(1);
    expect(JSON.parse(expired[0].canonical)).toMatchObject({ actor: { type: 'system', ref: null }, data: { reviewDays: 90, round: approved.round + 1 } });

    // the same tick again, later, on either instance: already run
    expect(await b.scheduler.runDue('recertification', tick)).toEqual({ ran: false, reason: 'already-run' });
    const runs = await a.db('job_runs').where({ job: 'recertification' }).orderBy('tick');
    expect(runs).toHaveLength(2);
    expect(runs[1]).toMatchObject({ outcome: 'ok', counts: { tenants: 1, tenantErrors: 0, expired: 1 } });
    expect(runs[1].finished_at).not.toBeNull();
    // the expired workflow takes decisions again
    const view = await request(a.baseUrl)
      .get(`/api/pages/${page('accessReview').id}/workflows/${page('accessReview').macroIds[0]}`)
      .set('Authorization', `JWT ${d.contextJwt(d.users.secMember.accountId, { pageId: page('accessReview').id })}`);
    expect(view.body).toMatchObject({ state: 'expired', viewer: { canDecide: true } });
  });

  it('reminds only approvers who have not acted, once per cadence, and not again after a restart', async () => {
    await render(d.users.bob.accountId, 'releaseChecklist');
    await decide(d.users.alice.accountId, 'releaseChecklist');
    const t0 = clock.now();
    expect(await both('reminders', t0)).toBe(1);
    const [first] = reminderComments('releaseChecklist');
    expect(first.body).toContain(`<ri:user ri:account-id="${d.users.bob.accountId}" />`);
    expect(first.body).not.toContain(d.users.alice.accountId);
    expect(reminderComments('releaseChecklist')).toHaveLength(1);
    // the expired access review waits on a group: named, nobody mentioned
    const [group] = reminderComments('accessReview');
    expect(group.body).toMatch(/needs recertification/);
    expect(group.body).toContain('a member of the group <strong>security</strong>');
    expect(group.body).not.toContain('ri:user');

    // an hour later, on the other instance (as after a restart): the reminder is recorded, nothing repeats
    clock.advance(HOUR);
    expect(await both('reminders', clock.now())).toBe(1);
    clock.advance(6 * DAY);
    expect(await both('reminders', clock.now())).toBe(1);
    expect(reminderComments('releaseChecklist')).toHaveLength(1);

    // a week after the first: the next one
    clock.set(new Date(t0.getTime() + 7 * DAY + HOUR));
    expect(await both('reminders', clock.now())).toBe(1);
    expect(reminderComments('releaseChecklist')).toHaveLength(2);
    const rows = await a.db('reminders').where({ client_key: d.clientKey }).orderBy('id');
    expect(rows.every((r) => r.status === 'sent' && r.comment_id)).toBe(true);
  });

  it('reminds with the same number of queries however many workflows are open: none per workflow', async () => {
    const queriesOfRun = async (tick: Date) => {
      let n = 0;
      const count = () => void n++;
      a.db.on('query', count);
      try {
        expect((await a.scheduler.runDue('reminders', tick)).ran).toBe(true);
      } finally {
        a.db.off('query', count);
      }
      return n;
    };
    const open = async () => Number((await a.db('workflows').where({ client_key: d.clientKey }).whereIn('state', ['pending', 'outdated', 'expired']).count<{ n: string }[]>('* as n'))[0].n);
    clock.advance(HOUR);
    await queriesOfRun(clock.now()); // whatever is due now is sent
    clock.advance(HOUR);
    const [openBefore, before] = [await open(), await queriesOfRun(clock.now())];
    // Two more open workflows, in spaces that already have one (each space's policy is read once per run).
    expect((await render(d.users.alice.accountId, 'postmortem')).status).toBe(200);
    expect((await render(d.users.alice.accountId, 'vendorRisk')).status).toBe(200);
    clock.advance(HOUR);
    await queriesOfRun(clock.now()); // their first reminders
    clock.advance(HOUR);
    const [openAfter, after] = [await open(), await queriesOfRun(clock.now())];
    expect(openAfter).toBe(openBefore + 2);
    expect(after).toBe(before);
  });

  it('signs a moved head with Ed25519; the signature verifies with `attest keys` and node:crypto (and openssl)', async () => {
    const tick = clock.now();
    expect(await both('checkpoints', tick)).toBe(1);
    const [cp] = await a.db('audit_checkpoints').where({ client_key: d.clientKey });
    const head = await a.db('audit_heads').where({ client_key: d.clientKey }).first();
    expect(Number(cp.seq)).toBe(Number(head.seq));
    expect(cp.chain_hash.equals(head.chain_hash)).toBe(true);
    expect(cp.signed_at.toISOString()).toBe(tick.toISOString());

    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['keys'], { env: { NODE_ENV: 'test', DATA_DIR: a.config.dataDir, LOG_LEVEL: 'silent', ATTEST_SIGNING_KEY: keys.ATTEST_SIGNING_KEY }, out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code).toBe(0);
    const pem = out.join('\n');
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(err.join('\n')).toContain(`key id: ${cp.key_id}`);

    const message = `attest-checkpoint-v1\n${d.clientKey}\n${cp.seq}\n${cp.chain_hash.toString('hex')}\n${tick.toISOString()}\n`;
    expect(checkpointMessage({ clientKey: d.clientKey, seq: Number(cp.seq), chainHash: cp.chain_hash.toString('hex'), signedAt: tick.toISOString() }).toString()).toBe(message);
    expect(verify(null, Buffer.from(message, 'utf8'), pem, Buffer.from(cp.signature, 'base64'))).toBe(true);
    expect(verify(null, Buffer.from(message.replace(`\n${cp.seq}\n`, `\n${Number(cp.seq) + 1}\n`), 'utf8'), pem, Buffer.from(cp.signature, 'base64'))).toBe(false);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-cp-'));
    try {
      fs.writeFileSync(path.join(dir, 'key.pem'), `${pem}\n`);
      fs.writeFileSync(path.join(dir, 'message'), message);
      fs.writeFileSync(path.join(dir, 'sig'), Buffer.from(cp.signature, 'base64'));
      let openssl: string | null = null;
      try {
        openssl = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'key.pem', '-rawin', '-in', 'message', '-sigfile', 'sig'], { cwd: dir, encoding: 'utf8' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (openssl !== null) expect(openssl).toMatch(/Signature Verified Successfully/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }

    // nothing moved: no new checkpoint
    clock.advance(5 * 60_000);
    expect(await both('checkpoints', clock.now())).toBe(1);
    expect(await a.db('audit_checkpoints').where({ client_key: d.clientKey })).toHaveLength(1);
    expect(await a.checkpoints.verificationStatus(d.clientKey)).toMatchObject({ status: 'ok', lastCheckpoint: { seq: Number(cp.seq), keyId: cp.key_id } });
  });

  it('erases a closed account: refs unlinked, accountId gone from every table, and the chain still verifies', async () => {
    const bob = d.users.bob.accountId;
    await decide(bob, 'releaseChecklist');
    // the space keeps him as a default approver, and he last changed another space's settings
    const admin = d.users.spaceAdmin.accountId;
    const put = await request(a.baseUrl)
      .put('/api/spaces/ENG/settings')
      .set('Authorization', `JWT ${d.contextJwt(admin)}`)
      .send({
        allowSelfApproval: false, resetOnEdit: 'content', reminderCadenceDays: 7, exportRole: 'space-admins',
        defaults: { approvers: [bob, d.users.alice.accountId], groups: [], rule: 'all', quorum: null, rejections: 1, dueOffsetDays: null, reviewDays: null },
      });
    expect(put.status).toBe(200);
    await a.db('space_settings').insert({ client_key: d.clientKey, space_key: 'SEC', settings: JSON.stringify({}), updated_by: bob });
    const ref = (await a.db('audit_subjects').where({ client_key: d.clientKey, account_id: bob }).first()).ref;
    d.reportAccounts.close(bob);

    d.reportAccounts.rateLimit(30);
    const t0 = clock.now();
    expect(await both('privacy', t0)).toBe(1);
    expect(d.reportAccounts.calls.at(-1)!.status).toBe(429);
    expect(await a.db('audit_subjects').where({ client_key: d.clientKey, account_id: bob })).toHaveLength(1);
    d.reportAccounts.rateLimit(null);
    clock.set(new Date(t0.getTime() + 10_000));
    expect(await both('privacy', clock.now())).toBe(1);
    expect(d.reportAccounts.calls.at(-1)!.status).toBe(429); // still waiting out Retry-After
    clock.set(new Date(t0.getTime() + 31_000));
    expect(await both('privacy', clock.now())).toBe(1);
    const call = d.reportAccounts.calls.at(-1)!;
    expect(call.status).toBe(200);
    expect(call.accountIds).toContain(bob);
    expect(call.accountIds.length).toBeLessThanOrEqual(90);

    expect(await a.db('audit_subjects').where({ client_key: d.clientKey, account_id: bob })).toHaveLength(0);
    // Every row of every table, read as text: the accountId is nowhere.
    const { rows: tables } = await a.db.raw(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`);
    expect(tables.length).toBeGreaterThan(10);
    for (const { table_name: table } of tables as Array<{ table_name: string }>) {
      const { rows } = await a.db.raw(`select count(*)::int as n from ${table} t where strpos(t::text, ?) > 0`, [bob]);
      expect([table, rows[0].n]).toEqual([table, 0]);
    }
    const eng = await a.db('space_settings').where({ client_key: d.clientKey, space_key: 'ENG' }).first();
    expect(eng.settings.defaults.approvers).toEqual([d.users.alice.accountId]);
    expect(await a.db('decisions').where({ client_key: d.clientKey, approver_id: `erased:${ref}` })).not.toHaveLength(0);
    const [erased] = await events('subject.erased');
    expect(JSON.parse(erased.canonical).data).toMatchObject({ ref });
    expect(erased.canonical).not.toContain(bob);
    expect((await a.audit.verify(a.db, d.clientKey)).ok).toBe(true);
    // the cycle is not due again until Cycle-Period (168 h) has passed
    const calls = d.reportAccounts.calls.length;
    clock.advance(HOUR);
    expect(await both('privacy', clock.now())).toBe(1);
    expect(d.reportAccounts.calls.length).toBe(calls);
    expect(await a.privacy.runCycle(d.clientKey, clock.now())).toEqual({ status: 'not-due', reported: 0, erased: 0 });
    // and the erased approver is no longer mentioned in reminders
    clock.advance(8 * DAY);
    await both('reminders', clock.now());
    const latest = reminderComments('releaseChecklist').filter((c) => c.createdAt === clock.now().toISOString());
    expect(latest.length).toBeLessThanOrEqual(1);
    for (const c of latest) expect(c.body).not.toContain(bob);
  });

  it('reports and erases a person whom only stored webhook payloads name (an editor who never decided)', async () => {
    const nora = d.users.nora.accountId;
    const edit = await d.editPage(d.pages.onCall.id, { title: 'On-call handbook (edited by Nora)', as: nora });
    expect(edit.webhook?.status).toBe(204);
    await a.pageEvents.settled();
    const holding = async () => (await a.db.raw(`select count(*)::int as n from page_events t where strpos(t::text, ?) > 0`, [nora])).rows[0].n;
    expect(await holding()).toBeGreaterThan(0);
    d.reportAccounts.close(nora);
    clock.advance(8 * DAY);
    const cycle = await a.privacy.runCycle(d.clientKey, clock.now());
    expect(d.reportAccounts.calls.at(-1)!.accountIds).toContain(nora);
    expect(cycle).toMatchObject({ status: 'reported' });
    expect(cycle.erased).toBeGreaterThanOrEqual(1);
    expect(await holding()).toBe(0);
  });

  it('catches tampering after a checkpoint: verification fails with the first bad seq, and no checkpoint is signed over it', async () => {
    await render(d.users.alice.accountId, 'onCall');
    await decide(d.users.alice.accountId, 'onCall');
    const head = await a.db('audit_heads').where({ client_key: d.clientKey }).first();
    const [last] = await a.db('audit_checkpoints').where({ client_key: d.clientKey }).orderBy('seq', 'desc');
    const victim = Number(last.seq) + 1;
    expect(Number(head.seq)).toBeGreaterThan(victim);
    await a.db.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica');
      await trx.raw(`update audit_events set canonical = replace(canonical, '"ok"', '"OK"') where client_key = ? and seq = ?`, [d.clientKey, victim]);
    });
    clock.advance(5 * 60_000);
    expect(await both('checkpoints', clock.now())).toBe(1);
    const status = await a.checkpoints.verificationStatus(d.clientKey);
    expect(status).toMatchObject({ status: 'failed', firstBadSeq: victim, lastCheckpoint: { seq: Number(last.seq) } });
    expect(status.reason).toMatch(new RegExp(`seq ${victim}`));
    expect(await a.db('audit_checkpoints').where({ client_key: d.clientKey })).toHaveLength(1);
    // signing directly is refused too, and the nightly full run agrees
    expect(await a.checkpoints.checkpoint(d.clientKey, clock.now())).toBe('refused');
    clock.advance(HOUR);
    expect(await a.scheduler.runDue('verify-full', clock.now())).toMatchObject({ ran: true, outcome: 'ok', counts: { failed: 1 } });
    expect(await a.checkpoints.verificationStatus(d.clientKey)).toMatchObject({ status: 'failed', mode: 'full', firstBadSeq: victim });
  });
});
