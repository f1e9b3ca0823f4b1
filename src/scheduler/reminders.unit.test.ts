import { approvalsOnFakes, approve, as, CK, PAGE_ID } from '../../test/fakes/approvals-fixture';
import { FakeReminderLog } from '../../test/fakes/fake-reminder-log';
import { NotFoundError } from '../lib/errors';
import { silentLogger } from '../lib/logger';
import { ReminderService } from './reminders';

const HOUR = 3_600_000;

function remindersOnFakes() {
  const fakes = approvalsOnFakes();
  const log = new FakeReminderLog();
  const reminders = new ReminderService({
    approvals: fakes.service,
    policies: fakes.stores.policies,
    confluence: fakes.confluence,
    store: log,
    logger: silentLogger(),
    delegations: fakes.delegations,
  });
  return { ...fakes, log, reminders };
}

const mentioned = (body: string) => [...body.matchAll(/ri:account-id="([^"]+)"/g)].map((m) => m[1]);

/** Reminders on in-memory stores: who is reminded, through whom, and how often. */
describe('ReminderService.sendDue', () => {
  it('mentions only the approvers still awaited in the current round, and the listed groups', async () => {
    const { reminders, stores, service, confluence, clock } = remindersOnFakes();
    stores.seed({ clientKey: CK, pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann', 'acc-ben'], groups: ['sre'] });
    await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());

    expect(await reminders.sendDue(CK, clock.now())).toEqual({ sent: 1, notDue: 0, failed: 0 });
    expect(mentioned(confluence.comments[0].body)).toEqual(['acc-ben']);
    expect(confluence.comments[0].body).toContain('a member of the group <strong>sre</strong>');
  });

  it('reminds the delegate of someone out of office, on their behalf, and records the delegate as notified', async () => {
    const { reminders, stores, confluence, delegations, log, clock } = remindersOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ben'] });
    delegations.add('acc-ben', 'acc-dan');
    confluence.names.set('acc-ben', 'Ben');

    await reminders.sendDue(CK, clock.now());
    expect(mentioned(confluence.comments[0].body)).toEqual(['acc-dan']);
    expect(confluence.comments[0].body).toContain('(on behalf of Ben, who is out of office)');
    expect(log.rows[0]).toMatchObject({ accountIds: ['acc-dan'], status: 'sent', commentId: 'comment-1' });
  });

  it('keeps a run that throws part way from skipping the reminders it did not post for a whole cadence', async () => {
    const { reminders, stores, service, confluence, log, clock } = remindersOnFakes();
    for (const m of ['m1', 'm2', 'm3']) stores.seed({ pageId: PAGE_ID, macroId: m, approvers: ['acc-ann'] });
    const post = confluence.createComment.bind(confluence);
    let calls = 0;
    confluence.createComment = async (...args: Parameters<typeof post>) => {
      if (++calls === 2) throw new NotFoundError('the page is hidden from the app');
      return post(...args);
    };
    // Recording that the app cannot read the page fails too (the database went away): the run throws.
    service.markAppAccess = async () => {
      throw new Error('Connection terminated unexpectedly');
    };
    await expect(reminders.sendDue(CK, clock.now())).rejects.toThrow('Connection terminated');
    expect(log.rows.map((r) => r.status)).toEqual(['sent']);
    confluence.createComment = post;
    expect(await reminders.sendDue(CK, clock.now())).toEqual({ sent: 2, notDue: 1, failed: 0 });
  });

  it('does not remind twice within the space cadence (not twice a day), and again once it has passed', async () => {
    const { reminders, stores, confluence, clock } = remindersOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'] });
    await reminders.sendDue(CK, clock.now());
    clock.advance(HOUR);
    expect(await reminders.sendDue(CK, clock.now())).toEqual({ sent: 0, notDue: 1, failed: 0 });
    clock.advance(24 * HOUR);
    expect((await reminders.sendDue(CK, clock.now())).sent).toBe(0);
    clock.advance(7 * 24 * HOUR);
    expect((await reminders.sendDue(CK, clock.now())).sent).toBe(1);
    expect(confluence.comments).toHaveLength(2);
  });

  it('forgets the claim of a comment Confluence refused, so the next run tries again, and marks the page unreadable', async () => {
    const { reminders, stores, confluence, log, clock } = remindersOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'] });
    confluence.hidden.add(PAGE_ID);
    expect(await reminders.sendDue(CK, clock.now())).toEqual({ sent: 0, notDue: 0, failed: 1 });
    expect(log.rows).toHaveLength(0);
    expect(stores.workflow(wf.id).appUnreadableSince).toEqual(clock.now());

    confluence.hidden.delete(PAGE_ID);
    clock.advance(HOUR);
    expect((await reminders.sendDue(CK, clock.now())).sent).toBe(1);
  });

  it('reads and writes with the same number of statements for 1 open workflow as for 40', async () => {
    const calls = async (n: number) => {
      const { reminders, stores, log, clock } = remindersOnFakes();
      for (let i = 0; i < n; i++) stores.seed({ pageId: `p-${i}`, macroId: 'm1', approvers: ['acc-ann'] });
      expect((await reminders.sendDue(CK, clock.now())).sent).toBe(n);
      return log.calls;
    };
    const one = await calls(1);
    expect(one).toEqual({ lastOfEach: 1, claimAll: 1, markSentAll: 1, releaseAll: 1 });
    expect(await calls(40)).toEqual(one);
  });
});
