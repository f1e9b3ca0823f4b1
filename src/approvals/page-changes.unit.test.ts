import { DEFAULT_POLICY } from './space-policy';
import { approvalsOnFakes, approve, as, macro, PAGE_ID } from '../../test/fakes/approvals-fixture';
import { sha256Hex } from '../lib/hash';

const edit = (version: number, body: string) => ({ id: PAGE_ID, type: 'page' as const, title: 'Runbook', spaceId: '1', spaceKey: 'ENG', version, versionAuthorId: 'acc-editor', versionCreatedAt: null, body });
const webhook = { type: 'confluence' as const, accountId: 'acc-editor' };

/** applyPageVersion on in-memory stores: what an edit of the page does to its workflows, by the space's policy. */
describe('applyPageVersion', () => {
  it('outdates a decided workflow when the content changed: a new round, decisions of the old one no longer count', async () => {
    const { service, stores } = approvalsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], bodyHash: sha256Hex('<p>v3</p>') });
    await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    expect(stores.workflow(wf.id).state).toBe('approved');

    const [after] = await service.applyPageVersion('tenant-a', PAGE_ID, edit(4, '<p>v4</p>'), webhook, 'webhook');
    expect(after).toMatchObject({ state: 'outdated', round: 2, boundVersion: 4, boundAuthorId: 'acc-editor', approvedAt: null });
    expect(stores.audit.events.at(-1)).toMatchObject({
      action: 'workflow.outdated',
      data: { fromVersion: 3, toVersion: 4, contentChanged: true, resetOnEdit: 'content', previousState: 'approved', cause: 'webhook' },
    });
  });

  it('rebinds without a reset when only the title or metadata changed', async () => {
    const { service, stores } = approvalsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], bodyHash: sha256Hex('<p>same</p>') });
    await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    await service.applyPageVersion('tenant-a', PAGE_ID, edit(4, '<p>same</p>'), webhook, 'webhook');
    expect(stores.workflow(wf.id)).toMatchObject({ state: 'approved', round: 1, boundVersion: 4 });
    expect(stores.audit.events.at(-1)).toMatchObject({ action: 'workflow.rebound', data: { contentChanged: false, reason: 'only the title or metadata changed: the approved content is the same' } });
  });

  it('follows the space policy: never keeps approvals on edits, any resets even without a content change', async () => {
    const never = approvalsOnFakes();
    const a = never.stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], bodyHash: 'old' });
    await never.service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    never.stores.spacePolicies.set('ENG', { ...DEFAULT_POLICY, resetOnEdit: 'never' });
    await never.service.applyPageVersion('tenant-a', PAGE_ID, edit(4, '<p>new</p>'), webhook, 'webhook');
    expect(never.stores.workflow(a.id)).toMatchObject({ state: 'approved', round: 1, boundVersion: 4 });

    const any = approvalsOnFakes();
    const b = any.stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], bodyHash: sha256Hex('<p>same</p>') });
    await any.service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    any.stores.spacePolicies.set('ENG', { ...DEFAULT_POLICY, resetOnEdit: 'any' });
    await any.service.applyPageVersion('tenant-a', PAGE_ID, edit(4, '<p>same</p>'), webhook, 'webhook');
    expect(any.stores.workflow(b.id)).toMatchObject({ state: 'outdated', round: 2 });
  });

  it('lets a pending round nobody decided in follow the page, and changes nothing for an older or equal version', async () => {
    const { service, stores } = approvalsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], bodyHash: 'old' });
    await service.applyPageVersion('tenant-a', PAGE_ID, edit(4, '<p>new</p>'), webhook, 'webhook');
    expect(stores.workflow(wf.id)).toMatchObject({ state: 'pending', round: 1, boundVersion: 4 });
    const events = stores.audit.events.length;
    await service.applyPageVersion('tenant-a', PAGE_ID, edit(4, '<p>newer</p>'), webhook, 'webhook');
    await service.applyPageVersion('tenant-a', PAGE_ID, edit(2, '<p>older</p>'), webhook, 'webhook');
    expect(stores.audit.events).toHaveLength(events);
    expect(stores.workflow(wf.id).boundVersion).toBe(4);
  });
});

/** reconfigure (through render): changed macro parameters change the workflow, audited with before and after. */
describe('reconfigure', () => {
  it('records the change with approvers as refs, and settles an open workflow a looser rule now approves', async () => {
    const { service, stores } = approvalsOnFakes();
    await service.render(as('acc-ann'), macro('m1', { approvers: ['acc-ann', 'acc-ben'] }));
    await service.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    const view = await service.render(as('acc-ann'), macro('m1', { approvers: ['acc-ann', 'acc-ben'], rule: 'any' }));

    expect(view.workflow.state).toBe('approved');
    expect(stores.audit.actions()).toEqual(['workflow.created', 'decision.approved', 'workflow.configured', 'workflow.approved']);
    const configured = stores.audit.events[2].data as { before: { rule: string; approvers: string[] }; after: { rule: string } };
    expect([configured.before.rule, configured.after.rule, configured.before.approvers]).toEqual(['all', 'any', ['ref:acc-ann', 'ref:acc-ben']]);
    expect(stores.audit.events[3].data).toMatchObject({ cause: 'configuration changed' });
  });

  it('changes nothing when the parameters are the same, or signed for an older version of the page', async () => {
    const { service, stores, confluence } = approvalsOnFakes();
    await service.render(as('acc-ann'), macro('m1'));
    await service.render(as('acc-ann'), macro('m1'));
    confluence.page({ id: PAGE_ID, version: 4, body: '<p>v3</p>' });
    await service.render(as('acc-ann'), macro('m1', { pageVersion: 4 }));
    await service.render(as('acc-ann'), macro('m1', { pageVersion: 3, approvers: ['acc-cat'] }));
    expect(stores.audit.actions()).toEqual(['workflow.created', 'workflow.rebound']);
  });
});
