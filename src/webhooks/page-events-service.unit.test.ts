import { approvalsOnFakes, approve, as, CK, PAGE_ID } from '../../test/fakes/approvals-fixture';
import { FakePageEventsStores } from '../../test/fakes/fake-page-events-stores';
import { silentLogger } from '../lib/logger';
import { PageEventsService } from './page-events-service';

const T0 = Date.parse('2026-06-01T08:00:00.000Z');

function pageEventsOnFakes() {
  const fakes = approvalsOnFakes();
  const inbox = new FakePageEventsStores(fakes.stores);
  const service = new PageEventsService({ stores: inbox, approvals: fakes.service, confluence: fakes.confluence, clock: fakes.clock, logger: silentLogger() });
  /** Delivers a webhook as Confluence would (timestamp in ms) and waits for its handling. */
  const deliver = async (event: 'page_updated' | 'page_trashed' | 'page_restored' | 'page_removed', at: number, version: number | null = null) => {
    const result = await service.receive(CK, event, { page: { idAsString: PAGE_ID, version, spaceKey: 'ENG' }, userAccountId: 'acc-editor', timestamp: at });
    await service.settled();
    return result;
  };
  return { ...fakes, approvals: fakes.service, inbox, service, deliver };
}

/** Page webhooks on in-memory stores: deliveries out of order, twice, or late change nothing they should not. */
describe('page events', () => {
  it('ignores a duplicate delivery, and applies each version once', async () => {
    const { deliver, stores, confluence } = pageEventsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], bodyHash: 'old' });
    confluence.page({ id: PAGE_ID, version: 4, body: '<p>v4</p>' });
    expect(await deliver('page_updated', T0, 4)).toBe('stored');
    expect(await deliver('page_updated', T0, 4)).toBe('duplicate');
    expect(stores.workflow(wf.id).boundVersion).toBe(4);
    expect(stores.audit.actions()).toEqual(['workflow.rebound']);
  });

  it('does not go back to an older version when its update arrives after a newer one', async () => {
    const { deliver, stores, confluence, approvals } = pageEventsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], bodyHash: 'old' });
    await approvals.decide(as('acc-ann'), PAGE_ID, 'm1', approve());
    confluence.page({ id: PAGE_ID, version: 4, body: '<p>v4</p>' });
    confluence.page({ id: PAGE_ID, version: 5, body: '<p>v5</p>' });
    await deliver('page_updated', T0 + 2000, 5);
    await deliver('page_updated', T0 + 1000, 4);
    expect(stores.workflow(wf.id)).toMatchObject({ boundVersion: 5, state: 'outdated', round: 2 });
    expect(stores.audit.actions().filter((a) => a === 'workflow.outdated')).toHaveLength(1);
  });

  it('treats a trash that Confluence sent before an already handled restore as stale', async () => {
    const { deliver, stores, inbox } = pageEventsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], state: 'archived', stateBeforeArchive: 'approved' });
    await deliver('page_restored', T0 + 5000);
    expect(stores.workflow(wf.id).state).toBe('approved');
    // The trash that preceded the restore arrives late: the page stays restored.
    await deliver('page_trashed', T0 + 1000);
    expect(stores.workflow(wf.id).state).toBe('approved');
    expect(inbox.rows.map((r) => r.outcome)).toEqual(['restored 1 workflow(s); at the current version 3', expect.stringMatching(/^stale: page_restored at /)]);
    expect(stores.audit.actions()).toEqual(['workflow.restored']);
  });

  it('archives on a trash and remembers the state a restore brings back; a repeated trash changes nothing', async () => {
    const { deliver, stores } = pageEventsOnFakes();
    const wf = stores.seed({ pageId: PAGE_ID, macroId: 'm1', approvers: ['acc-ann'], state: 'rejected' });
    await deliver('page_trashed', T0);
    await deliver('page_trashed', T0 + 10);
    expect(stores.workflow(wf.id)).toMatchObject({ state: 'archived', stateBeforeArchive: 'rejected' });
    await deliver('page_restored', T0 + 20);
    expect(stores.workflow(wf.id).state).toBe('rejected');
    expect(stores.audit.actions()).toEqual(['workflow.archived', 'workflow.restored']);
  });
});
