import type { Knex } from 'knex';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { AuditLog } from '../audit/audit-log';
import { AuditStore } from '../audit/audit-store';
import { macKeys } from '../audit/event-mac';
import type { ConfluenceClient, ConfluencePage } from '../confluence/confluence-client';
import { ManualClock } from '../lib/clock';
import { UpstreamError } from '../lib/errors';
import { silentLogger } from '../lib/logger';
import { ApprovalsService } from './approvals-service';
import { ApprovalsStore } from './approvals-store';
import { approvalsStores } from './approvals-tx-store';
import type { Delegation, DelegationLookup } from './delegation';
import { DEFAULT_POLICY, SpacePolicyProvider } from './space-policy';

/** What a decision is answered with when something changes or fails around its transaction (group commit, issue 15). */
const TENANT = 'answers-tenant';
const NOW = new Date('2026-12-04T10:00:00.000Z');
const PAGE: ConfluencePage = {
  id: '7070', type: 'page', title: 'Access review', spaceId: '1', spaceKey: 'OPS', version: 2,
  versionAuthorId: 'acc-writer', versionCreatedAt: null, body: '<p>review</p>',
};
const ANY = '00000000-0000-4000-8000-0000000000a1';
const OPEN = '00000000-0000-4000-8000-0000000000a2';
const everywhere: SpacePolicyProvider = { policyFor: async () => DEFAULT_POLICY };

/** `any`: one approval settles it, listed person acc-lee or group `auditors`; `open` never settles (group `ops`). */
async function seed(db: Knex): Promise<void> {
  const row = (id: string, macroId: string, rule: string, quorum: number | null, groups: string[]) => ({
    client_key: TENANT, id, page_id: PAGE.id, content_type: 'page', macro_id: macroId, space_key: 'OPS', page_title: PAGE.title, state: 'pending',
    rule, quorum, rejections: 50, approvers: ['acc-lee'], groups, bound_version: 2, body_hash: null, bound_author_id: 'acc-writer', review_days: null,
  });
  await db('workflows').insert([row(ANY, 'm-any', 'any', null, ['auditors']), row(OPEN, 'm-open', 'quorum', 50, ['ops'])]);
}

function service(db: Knex, groupsOf: (accountId: string) => Promise<string[]>, delegations?: DelegationLookup): ApprovalsService {
  const confluence = { readAccess: async () => 'granted', getPage: async () => PAGE, getPageHead: async () => PAGE, groupsOf: (_ck: string, id: string) => groupsOf(id) };
  const store = new ApprovalsStore(db);
  const audit = new AuditLog({ store: new AuditStore(db), macKey: macKeys(Buffer.alloc(32, 3)), now: () => NOW.getTime() });
  const stores = approvalsStores(db, { store, audit, policiesIn: () => everywhere });
  return new ApprovalsService({ stores, confluence: confluence as unknown as ConfluenceClient, policies: everywhere, clock: new ManualClock(NOW), logger: silentLogger(), delegations });
}

const approve = (s: ApprovalsService, who: string, macroId: string) =>
  s.decide({ clientKey: TENANT, accountId: who, hostBaseUrl: 'https://ops.atlassian.net/wiki' }, PAGE.id, macroId, { decision: 'approve', comment: `seen by ${who}`, pageVersion: 2 }, null, null);

let t: TestDatabase;
beforeEach(async () => {
  t = await createTestDatabase();
  await seed(t.db);
});
afterEach(() => t?.drop());

it('answers a committed decision as recorded when what its answer asks of Confluence afterwards fails', async () => {
  // Kim decides as a member of the listed group `ops`, and stands in for Lee (a delegation): her answer lists the
  // people she may decide for next, which asks Confluence for Lee's groups — only after the commit, and it fails.
  const delegation: Delegation = { id: 'dl-1', delegatorId: 'acc-lee', delegateId: 'acc-kim', startsOn: '2026-12-01', endsOn: '2026-12-31', endedAt: null, createdAt: NOW, updatedAt: NOW };
  const delegations: DelegationLookup = { activeTo: async (_ck, delegateId) => (delegateId === 'acc-kim' ? [delegation] : []), activeOf: async () => new Map() };
  const s = service(
    t.db,
    async (id) => {
      if (id === 'acc-lee') throw new UpstreamError('Confluence did not answer');
      return id === 'acc-kim' ? ['ops'] : [];
    },
    delegations,
  );
  const { view } = await approve(s, 'acc-kim', 'm-open');
  expect(view.workflow.id).toBe(OPEN);
  expect(view.viewer.viaGroups).toEqual(['ops']);
  expect(view.viewer.onBehalfOf).toEqual([]);
  expect(await t.db('decisions').where({ client_key: TENANT }).pluck('approver_id')).toEqual(['acc-kim']);
  expect(await t.db('audit_events').where({ client_key: TENANT }).pluck('action')).toEqual(['decision.approved']);
});

it('refuses a decision through a group the macro stopped listing while the decision was on its way', async () => {
  let edit!: () => void;
  const edited = new Promise<void>((resolve) => (edit = resolve));
  const s = service(t.db, async (id) => {
    if (id !== 'acc-zoe') return [];
    // Zoe's groups are asked before the lock; the macro is edited (group dropped) before her decision gets there.
    await t.db('workflows').where({ client_key: TENANT, id: ANY }).update({ groups: [] });
    edit();
    return ['auditors'];
  });
  const outcome = await approve(s, 'acc-zoe', 'm-any').then((r) => r.view.workflow.state, (err: Error) => err.message);
  await edited;
  expect(outcome).toMatch(/not an approver/);
  expect(await t.db('workflows').where({ client_key: TENANT, id: ANY }).first('state')).toEqual({ state: 'pending' });
  expect(await t.db('decisions').where({ client_key: TENANT })).toEqual([]);
});

it('records a decision through a group the macro still lists, with that group', async () => {
  const s = service(t.db, async (id) => (id === 'acc-zoe' ? ['auditors', 'staff'] : []));
  const { view } = await approve(s, 'acc-zoe', 'm-any');
  expect(view.workflow.state).toBe('approved');
  expect(await t.db('decisions').where({ client_key: TENANT }).pluck('via_groups')).toEqual([['auditors']]);
});

it('keeps no audit subject for a refused decision that shared its batch with a recorded one, as when refused alone', async () => {
  const s = service(t.db, async () => []);
  const waiting = () => (s as unknown as { decisions: { keys: Map<string, { waiting: unknown[] }> } }).decisions.keys.get(TENANT)?.waiting.length ?? 0;
  const subjects = () => t.db('audit_subjects').where({ client_key: TENANT }).orderBy('account_id').pluck('account_id');
  // A first decision waits on a workflow another transaction holds; the next two queue into one batch behind it.
  const holder = await t.db.transaction();
  await holder('workflows').where({ client_key: TENANT, id: OPEN }).forUpdate();
  const first = approve(s, 'acc-lee', 'm-open');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const mallory = approve(s, 'acc-mallory', 'm-any').then(() => 'recorded', (err: Error) => err.message);
  const lee = approve(s, 'acc-lee', 'm-any');
  for (let i = 0; i < 200 && waiting() < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(waiting()).toBe(2);
  await holder.commit();
  await first;
  expect((await lee).view.workflow.state).toBe('approved');
  expect(await mallory).toMatch(/not an approver/);
  expect(await subjects()).toEqual(['acc-lee']);
});
