import { ApprovalsService, DecisionInput, MacroParams } from '../../src/approvals/approvals-service';
import type { Delegation, DelegationLookup } from '../../src/approvals/delegation';
import type { Principal } from '../../src/confluence/connect-auth';
import { ManualClock } from '../../src/lib/clock';
import { silentLogger } from '../../src/lib/logger';
import { FakeApprovalsStores } from './fake-approvals-stores';
import { FakeConfluence } from './fake-confluence';

export const CK = 'tenant-a';
export const PAGE_ID = '4242';

/** In-memory delegations: each active from its startsOn through its endsOn. */
export class FakeDelegations implements DelegationLookup {
  readonly list: Delegation[] = [];

  add(delegatorId: string, delegateId: string, startsOn = '2026-01-01', endsOn = '2026-12-31'): Delegation {
    const d: Delegation = { id: `del-${this.list.length + 1}`, delegatorId, delegateId, startsOn, endsOn, endedAt: null, createdAt: new Date(0), updatedAt: new Date(0) };
    this.list.push(d);
    return d;
  }

  private active(day: string) {
    return this.list.filter((d) => d.startsOn <= day && day <= d.endsOn && d.endedAt === null);
  }

  async activeTo(_ck: string, delegateId: string, day: string): Promise<Delegation[]> {
    return this.active(day).filter((d) => d.delegateId === delegateId);
  }

  async activeOf(_ck: string, delegatorIds: string[], day: string): Promise<Map<string, Delegation>> {
    return new Map(this.active(day).filter((d) => delegatorIds.includes(d.delegatorId)).map((d) => [d.delegatorId, d]));
  }
}

/** An approvals service on fakes only (no database, no HTTP), with the fakes to arrange and inspect. */
export function approvalsOnFakes(opts: { maxBatch?: number } = {}) {
  const clock = new ManualClock('2026-06-01T09:00:00.000Z');
  const stores = new FakeApprovalsStores(() => clock.now());
  const confluence = new FakeConfluence();
  const delegations = new FakeDelegations();
  confluence.page({ id: PAGE_ID, version: 3, body: '<p>v3</p>' });
  const service = new ApprovalsService({
    stores,
    confluence,
    policies: stores.policies,
    clock,
    logger: silentLogger(),
    delegations,
    decisionBatches: { maxBatch: opts.maxBatch ?? 32, maxConcurrent: 1 },
  });
  return { service, stores, confluence, delegations, clock };
}

export const as = (accountId: string): Principal => ({ clientKey: CK, accountId, hostBaseUrl: 'https://example.atlassian.net/wiki' });

export const approve = (comment = 'looks right', pageVersion = 3, onBehalfOf: string | null = null): DecisionInput => ({ decision: 'approve', comment, pageVersion, onBehalfOf });
export const reject = (comment = 'the rollback is missing', pageVersion = 3): DecisionInput => ({ decision: 'reject', comment, pageVersion });

/** The signed parameters of the macro `macroId` on the page, read at `pageVersion`. */
export function macro(macroId: string, over: Partial<MacroParams> = {}): MacroParams {
  return {
    pageId: PAGE_ID,
    contentType: 'page',
    pageVersion: 3,
    spaceKey: 'ENG',
    macroId,
    title: null,
    after: null,
    approvers: ['acc-ann', 'acc-ben'],
    groups: [],
    rule: 'all',
    quorum: null,
    rejections: null,
    due: null,
    review: null,
    ...over,
  };
}
