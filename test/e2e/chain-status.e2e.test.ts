import request from 'supertest';
import { ManualClock } from '../../src/lib/clock';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * What the checkpoint job signs and what the space dashboard says about the chain, after a database
 * superuser edits a row: scheduled jobs driven tick by tick, the dashboard read through its API.
 */
describe('chain checks: what is signed, and what the dashboard claims', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  const clock = new ManualClock('2026-03-02T01:00:00.000Z');
  beforeAll(async () => {
    t = await startTestApp({ clock });
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const ck = () => d.clientKey;
  const head = async () => Number((await t.db('audit_heads').where({ client_key: ck() }).first())?.seq ?? 0);
  const checkpoints = async () => (await t.db('audit_checkpoints').where({ client_key: ck() }).orderBy('seq')).map((c) => Number(c.seq));
  async function appendUntil(seq: number) {
    for (let guard = 0; (await head()) < seq && guard < 100; guard++) {
      await t.db.transaction((trx) =>
        t.audit.append(trx, ck(), {
          action: 'decision.approved',
          actor: { type: 'user', accountId: d.users.bob.accountId },
          spaceKey: 'ENG',
          page: { id: '1001', version: 1, title: 'Policy', bodyHash: null },
          workflowId: 'wf-chain',
          data: { decision: 'approve', comment: 'ok', round: 1, viaGroups: [] },
        }),
      );
    }
    expect(await head()).toBe(seq);
  }
  const at = (iso: string) => {
    clock.set(new Date(iso));
    return clock.now();
  };
  const run = async (job: string, iso: string) => {
    const r = await t.scheduler.runDue(job, at(iso));
    if (!r.ran) throw new Error(`${job} did not run: ${r.reason}`);
    expect(r.outcome).toBe('ok');
    return r.counts;
  };
  const chain = async () => {
    const res = await request(t.baseUrl)
      .get('/api/spaces/ENG/workflows')
      .set('Authorization', `JWT ${d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey: 'ENG' })}`);
    expect(res.status).toBe(200);
    return res.body.chain;
  };

  it('states exactly what was checked and when; after an edit a full check turns it red and nothing more is signed', async () => {
    expect(await head()).toBeLessThan(3);
    await appendUntil(3);
    await run('checkpoints', '2026-03-02T01:05:00.000Z');
    await appendUntil(24);
    await run('checkpoints', '2026-03-02T01:10:00.000Z');
    expect(await checkpoints()).toEqual([3, 24]);
    expect(await run('verify-full', '2026-03-02T02:30:00.000Z')).toMatchObject({ ok: 1 });
    await appendUntil(30);
    await run('checkpoints', '2026-03-02T02:35:00.000Z');
    expect(await checkpoints()).toEqual([3, 24, 30]);
    expect((await chain()).verification).toMatchObject({
      ok: true,
      lines: ['Full check 2026-03-02 02:30 UTC, events 1–24: ok', 'Since then: events 25–30 checked incrementally (last 2026-03-02 02:35 UTC)'],
    });

    // A superuser edits event 4, which the checkpoints at 24 and 30 already cover.
    await t.db.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica');
      await trx.raw(`update audit_events set canonical = replace(canonical, '"ok"', '"OK"') where client_key = ? and seq = 4`, [ck()]);
    });
    await appendUntil(32);
    await run('checkpoints', '2026-03-02T02:40:00.000Z');
    // Honest: no full check has read event 4 since the edit, and the dashboard claims no more than that.
    expect((await chain()).verification).toMatchObject({
      ok: true,
      lines: ['Full check 2026-03-02 02:30 UTC, events 1–24: ok', 'Since then: events 25–32 checked incrementally (last 2026-03-02 02:40 UTC)'],
    });

    // The nightly full check recomputes every row: red, with the first bad event.
    expect(await run('verify-full', '2026-03-03T02:30:00.000Z')).toMatchObject({ failed: 1 });
    const red = (await chain()).verification;
    expect(red).toMatchObject({ ok: false, firstBadSeq: 4 });
    expect(red.lines[0]).toBe('Full check 2026-03-03 02:30 UTC: FAILED at event 4 (seq 4: leaf hash does not match canonical)');
    const signed = await checkpoints();

    // From now on the checkpoint job signs nothing over the edited chain, and the dashboard stays red.
    await appendUntil(35);
    expect(await run('checkpoints', '2026-03-03T02:35:00.000Z')).toMatchObject({ refused: 1 });
    expect(await checkpoints()).toEqual(signed);
    expect((await chain()).verification).toMatchObject({ ok: false, firstBadSeq: 4 });
    // An export cannot sign one either.
    expect(await t.checkpoints.checkpoint(ck(), clock.now())).toBe('refused');
    expect(await checkpoints()).toEqual(signed);
  });
});
