import { ConflictError, InputError, NotAllowedError } from '../lib/errors';
import { DEFAULT_POLICY } from './space-policy';
import { approvalsOnFakes, approve, as, macro, PAGE_ID, reject } from '../../test/fakes/approvals-fixture';

/** ApprovalsService.decide on in-memory stores: the rules of who may decide, and what a decision records. */
describe('decide', () => {
  it('records approvals and settles an all-rule workflow once every approver has approved', async () => {
    const { service, stores } = approvalsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann', 'acc-ben'], reviewDays: 30 });

    const first = await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    expect(first.view.workflow.state).toBe('pending');
    expect(first.view.outcome.waitingOnUsers).toEqual(['acc-ben']);
    const second = await service.decide(as('acc-ben'), PAGE_ID, 'm1', approve());

    expect(second.view.workflow.state).toBe('approved');
    expect(stores.workflow(wf.id).expiresAt).toEqual(new Date('2026-07-01T09:00:00.000Z'));
    expect(stores.decisionsOf(wf.id).map((d) => [d.approverId, d.decision, d.round])).toEqual([['acc-ann', 'approve', 1], ['acc-ben', 'approve', 1]]);
    expect(stores.audit.actions()).toEqual(['decision.approved', 'decision.approved', 'workflow.approved']);
    expect(stores.audit.events[2]).toMatchObject({ workflowId: wf.id, data: { round: 1, approvals: 2, rejections: 0 } });
  });

  it('rejects with a comment, and refuses a rejection without one before anything is written', async () => {
    const { service, stores } = approvalsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann', 'acc-ben'] });
    await expect(service.decide(as('acc-ann'), PAGE_ID, 'm1', reject('  '))).rejects.toBeInstanceOf(InputError);
    expect(stores.transactions).toBe(0);

    const { view } = await service.decide(as('acc-ann'), PAGE_ID, 'm1', reject());
    expect(view.workflow.state).toBe('rejected');
    expect(stores.audit.actions()).toEqual(['decision.rejected', 'workflow.rejected']);
    expect(stores.audit.events[0].data).toMatchObject({ decision: 'reject', comment: 'the rollback is missing' });
    expect(stores.workflow(wf.id).approvedAt).toBeNull();
  });

  it('refuses someone who is neither listed nor in a listed group, and records nothing', async () => {
    const { service, stores, confluence } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], groups: ['sre'] });
    await expect(service.decide(as('acc-mallory'), PAGE_ID, 'm1', approve())).rejects.toThrow(NotAllowedError);
    expect(stores.rows.decisions).toHaveLength(0);
    expect(stores.audit.events).toHaveLength(0);

    // A member of a listed group may, and the decision names the group it came through.
    confluence.groups.set('acc-mallory', ['sre', 'other']);
    const { view } = await service.decide(as('acc-mallory'), PAGE_ID, 'm1', approve());
    expect(view.decisions[0].viaGroups).toEqual(['sre']);
  });

  it('refuses the author of the bound version unless the space allows self-approval', async () => {
    const { service, stores } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-author', 'acc-ann'], boundAuthorId: 'acc-author' });
    await expect(service.decide(as('acc-author'), PAGE_ID, 'm1', approve())).rejects.toThrow(/separation of duties/);
    expect(stores.rows.decisions).toHaveLength(0);

    stores.spacePolicies.set('ENG', { ...DEFAULT_POLICY, allowSelfApproval: true });
    await expect(service.decide(as('acc-author'), PAGE_ID, 'm1', approve())).resolves.toMatchObject({ replayed: false });
  });

  it('refuses a decision for a version other than the bound one (the page changed)', async () => {
    const { service, stores } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'] });
    await expect(service.decide(as('acc-ann'), PAGE_ID, 'm1', approve('ok', 2))).rejects.toThrow(/bound to version 3, not 2/);
    // Reading another version (the context JWT names it) is read-only too.
    await expect(service.decide(as('acc-ann'), PAGE_ID, 'm1', approve(), 2)).rejects.toThrow(/You are viewing version 2/);
    expect(stores.rows.decisions).toHaveLength(0);
  });

  it('refuses decisions on a closed workflow', async () => {
    const { service, stores } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], state: 'approved' });
    const refused = service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toThrow('This workflow is approved: it takes no more decisions.');
  });

  it('lets a delegate decide for the person out of office, counted for them, with both on the chain', async () => {
    const { service, stores, delegations } = approvalsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'] });
    // No delegation from Ann: refused.
    await expect(service.decide(as('acc-dan'), PAGE_ID, 'm1', approve('ok', 3, 'acc-ann'))).rejects.toThrow(/no active delegation/);
    const d = delegations.add('acc-ann', 'acc-dan');

    const { view } = await service.decide(as('acc-dan'), PAGE_ID, 'm1', approve('ok', 3, 'acc-ann'));
    expect(view.workflow.state).toBe('approved');
    expect(stores.decisionsOf(wf.id)).toEqual([expect.objectContaining({ approverId: 'acc-ann', delegateId: 'acc-dan', delegationId: d.id })]);
    expect(stores.audit.events[0]).toMatchObject({ actor: { type: 'user', accountId: 'acc-dan' }, data: { onBehalfOf: 'ref:acc-ann', delegationId: d.id } });
  });

  it('refuses a delegate who wrote the bound version, even for an approver who did not (separation of duties)', async () => {
    const { service, stores, delegations } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], boundAuthorId: 'acc-dan' });
    delegations.add('acc-ann', 'acc-dan');
    await expect(service.decide(as('acc-dan'), PAGE_ID, 'm1', approve('ok', 3, 'acc-ann'))).rejects.toThrow(/cannot approve it on anyone's behalf/);
    expect(stores.rows.decisions).toHaveLength(0);
  });

  it('refuses a delegate where the space does not allow delegation', async () => {
    const { service, stores, delegations } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'] });
    delegations.add('acc-ann', 'acc-dan');
    stores.spacePolicies.set('ENG', { ...DEFAULT_POLICY, allowDelegation: false });
    await expect(service.decide(as('acc-dan'), PAGE_ID, 'm1', approve('ok', 3, 'acc-ann'))).rejects.toThrow(/does not allow delegation/);
  });

  it('keeps a stage closed until the stage it waits for is approved, then opens it', async () => {
    const { service, stores } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm-legal', title: 'Legal', approvers: ['acc-ann'] });
    const security = stores.seed({ pageId: PAGE_ID, macroId: 'm-sec', title: 'Security', after: 'Legal', approvers: ['acc-ben'] });
    await expect(service.decide(as('acc-ben'), PAGE_ID, 'm-sec', approve())).rejects.toThrow(ConflictError);
    expect(stores.rows.decisions).toHaveLength(0);

    await service.decide(as('acc-ann'), PAGE_ID, 'm-legal', approve());
    expect(stores.audit.actions()).toEqual(['decision.approved', 'workflow.approved', 'stage.approved', 'stage.opened']);
    expect(stores.audit.events[3].workflowId).toBe(security.id);
    const { view } = await service.decide(as('acc-ben'), PAGE_ID, 'm-sec', approve());
    expect(view.workflow.state).toBe('approved');
  });

  it('answers a repeated Idempotency-Key with the recorded decision, and refuses the key for another decision', async () => {
    const { service, stores } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann', 'acc-ben'] });
    const first = await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve(), null, 'key-1');
    const again = await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve(), null, 'key-1');
    expect([first.replayed, again.replayed]).toEqual([false, true]);
    expect(stores.rows.decisions).toHaveLength(1);
    await expect(service.decide(as('acc-ann'), PAGE_ID, 'm1', reject(), null, 'key-1')).rejects.toThrow(/already used for a different decision/);
  });

  it('applies decisions in arrival order, those that arrive together in one transaction', async () => {
    const { service, stores } = approvalsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', rule: 'any', approvers: ['acc-ann', 'acc-ben', 'acc-cat'] });
    const results = await Promise.allSettled(['acc-ann', 'acc-ben', 'acc-cat'].map((who) => service.decide(as(who), PAGE_ID, 'm1', approve())));
    // The first runs alone; the two that arrived while it ran share the next transaction, and find the workflow settled.
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(stores.transactions).toBe(2);
    expect(stores.decisionsOf(wf.id).map((d) => d.approverId)).toEqual(['acc-ann']);
    expect(stores.workflow(wf.id).state).toBe('approved');
  });

  it('asks whether the user can read the page, where the page is and for the workflow at once; a refusal answers first', async () => {
    const { service, stores, confluence } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'] });
    // The permission's answer is held back (on a real site, a call to Confluence): the page's head is asked meanwhile.
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const readAccess = confluence.readAccess.bind(confluence);
    confluence.readAccess = async (...args) => held.then(() => readAccess(...args));
    confluence.readsAs.length = 0;
    const decided = service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    await new Promise((resolve) => setImmediate(resolve));
    expect(confluence.readsAs).toEqual(['page']);
    expect(stores.transactions).toBe(0);
    answer();
    expect((await decided).view.workflow.state).toBe('approved');

    // Someone who cannot read the page is told so, whatever else is wrong (no such workflow, a rejection without a
    // comment), and nothing is written.
    confluence.denied.add(`${PAGE_ID}/acc-ben`);
    await expect(service.decide(as('acc-ben'), PAGE_ID, 'no-such-macro', reject('  '))).rejects.toBeInstanceOf(NotAllowedError);
    await expect(service.decide(as('acc-ben'), PAGE_ID, 'm1', approve())).rejects.toBeInstanceOf(NotAllowedError);
    expect(stores.transactions).toBe(1);
  });

  it('asks Confluence where the page is while it reads the workflow, as a page; a blog post\'s workflow asks again as one', async () => {
    const { service, stores, confluence } = approvalsOnFakes();
    stores.seed({ pageId: PAGE_ID, macroId: 'm1', rule: 'any', approvers: ['acc-ann'] });
    confluence.readsAs.length = 0;
    await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    expect(confluence.readsAs).toEqual(['page']);

    confluence.page({ id: '777', type: 'blogpost', version: 3 });
    const post = stores.seed({ pageId: '777', macroId: 'm1', contentType: 'blogpost', rule: 'any', approvers: ['acc-ann'] });
    confluence.readsAs.length = 0;
    const answer = await service.decide(as('acc-ann'), '777', 'm1', approve());
    expect(confluence.readsAs).toEqual(['page', 'blogpost']);
    expect(answer.view.workflow.state).toBe('approved');
    // The page endpoint's 404 for a blog post is not taken for a page the app cannot read.
    expect(stores.workflow(post.id).appUnreadableSince).toBeNull();

    // The next decision on that blog post asks as a blog post at once: one call, not two.
    stores.seed({ pageId: '777', macroId: 'm2', contentType: 'blogpost', rule: 'any', approvers: ['acc-ann'] });
    confluence.readsAs.length = 0;
    expect((await service.decide(as('acc-ann'), '777', 'm2', approve())).view.workflow.state).toBe('approved');
    expect(confluence.readsAs).toEqual(['blogpost']);
    // What a decision learnt is per tenant: another tenant's content of the same id is asked about as a page first.
    confluence.readsAs.length = 0;
    await service.decide({ ...as('acc-ann'), clientKey: 'tenant-b' }, '777', 'm1', approve()).catch(() => undefined);
    expect(confluence.readsAs[0]).toBe('page');
  });
});

/** render: what it asks of Confluence and the database, and in which order it may answer. */
describe('render', () => {
  /** Holds every permission answer back until `answer()`; what the service asks meanwhile shows in `readsAs`. */
  function holdPermission(confluence: ReturnType<typeof approvalsOnFakes>['confluence']) {
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const readAccess = confluence.readAccess.bind(confluence);
    confluence.readAccess = async (...args) => held.then(() => readAccess(...args));
    confluence.readsAs.length = 0;
    return answer;
  }
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('reads the page while the permission is asked when it will need it (no workflow yet, a newer version), and not otherwise', async () => {
    const { service, stores, confluence } = approvalsOnFakes();
    let answer = holdPermission(confluence);
    const first = service.render(as('acc-ann'), macro('m1'));
    await turn();
    expect(confluence.readsAs).toEqual(['page']);
    expect(stores.audit.actions()).toEqual([]);
    answer();
    expect((await first).workflow.boundVersion).toBe(3);

    answer = holdPermission(confluence);
    const again = service.render(as('acc-ann'), macro('m1'));
    await turn();
    answer();
    await again;
    expect(confluence.readsAs).toEqual([]);

    confluence.page({ id: PAGE_ID, version: 4, body: '<p>v4</p>' });
    answer = holdPermission(confluence);
    const edited = service.render(as('acc-ann'), macro('m1', { pageVersion: 4 }));
    await turn();
    expect(confluence.readsAs).toEqual(['page']);
    answer();
    expect((await edited).workflow.boundVersion).toBe(4);
    expect(stores.audit.actions()).toEqual(['workflow.created', 'workflow.rebound']);
  });

  it('answers a viewer who cannot read the page with the refusal, and writes nothing (the page may have been read meanwhile)', async () => {
    const { service, stores, confluence } = approvalsOnFakes();
    confluence.denied.add(`${PAGE_ID}/acc-ben`);
    await expect(service.render(as('acc-ben'), macro('m1'))).rejects.toBeInstanceOf(NotAllowedError);
    expect(stores.audit.actions()).toEqual([]);
    // A page the app cannot read either (its read fails): still the viewer's refusal.
    confluence.denied.add('999/acc-ben');
    await expect(service.render(as('acc-ben'), macro('m1', { pageId: '999' }))).rejects.toBeInstanceOf(NotAllowedError);
    expect(stores.audit.actions()).toEqual([]);
  });
});
