import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import type { NewWorkflow } from './approvals-ports';
import { ApprovalsStore } from './approvals-store';

/**
 * A decision's first read of its workflow (issue 15): reads asked together share one statement, and each
 * caller still gets its own tenant's row, as fresh as a read of its own.
 */
let tdb: TestDatabase;
let store: ApprovalsStore;

const workflow = (pageId: string, macroId: string, title: string): NewWorkflow => ({
  pageId, contentType: 'page', macroId, title, after: null, pagePosition: null, spaceKey: 'ENG', pageTitle: `Page ${pageId}`,
  state: 'pending', rule: 'all', quorum: null, rejections: 1, approvers: ['acc-ann'], groups: [], dueDate: null,
  reviewDays: null, boundVersion: 1, bodyHash: null, boundAuthorId: null,
});

beforeAll(async () => {
  tdb = await createTestDatabase();
  store = new ApprovalsStore(tdb.db);
  await tdb.db.transaction(async (trx) => {
    for (const ck of ['tenant-a', 'tenant-b']) {
      for (let i = 1; i <= 6; i++) await store.insertWorkflow(ck, workflow(`p${i}`, 'm1', `${ck} ${i}`), trx);
    }
  });
}, 60_000);

afterAll(async () => {
  await tdb.drop();
});

/** The statements the pool runs while `fn` does (knex's, and those src/db/pipeline.ts sends past it). */
async function statementsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const onQuery = (q: { sql: string }) => seen.push(q.sql);
  tdb.db.on('query', onQuery);
  try {
    await fn();
  } finally {
    tdb.db.off('query', onQuery);
  }
  return seen;
}

describe('ApprovalsStore.findWorkflow without a transaction', () => {
  it('answers reads asked together with two statements (the first alone, the rest together), each with its own tenant\'s row', async () => {
    const asks = [] as Array<[string, string, string]>;
    for (let i = 1; i <= 6; i++) for (const ck of ['tenant-a', 'tenant-b']) asks.push([ck, `p${i}`, 'm1']);
    asks.push(['tenant-a', 'p1', 'm1'], ['tenant-a', 'p9', 'm1'], ['tenant-c', 'p1', 'm1']);
    let found: Array<Awaited<ReturnType<ApprovalsStore['findWorkflow']>>> = [];
    const sql = await statementsDuring(async () => {
      found = await Promise.all(asks.map(([ck, page, macro]) => store.findWorkflow(ck, page, macro)));
    });
    expect(sql.filter((s) => /\bworkflows\b/.test(s))).toHaveLength(2);
    asks.forEach(([ck, page], i) => {
      if (page === 'p9' || ck === 'tenant-c') expect(found[i]).toBeNull();
      else expect(found[i]).toMatchObject({ clientKey: ck, pageId: page, title: `${ck} ${page.slice(1)}` });
    });
    // Two callers of the same row get objects of their own.
    expect(found[0]).not.toBe(found[12]);
    expect(found[0]).toEqual(found[12]);
  });

  it('keeps keys apart whatever their ids hold', async () => {
    await tdb.db.transaction(async (trx) => {
      await store.insertWorkflow('tenant-a', workflow('x\ny', 'z', 'first'), trx);
      await store.insertWorkflow('tenant-a', workflow('x', 'y\nz', 'second'), trx);
    });
    const first = store.findWorkflow('tenant-a', 'p1', 'm1');
    const [a, b] = await Promise.all([store.findWorkflow('tenant-a', 'x\ny', 'z'), store.findWorkflow('tenant-a', 'x', 'y\nz')]);
    await first;
    expect([a?.title, b?.title]).toEqual(['first', 'second']);
  });

  it('sees a write committed before the read was asked, even while an earlier read is in flight', async () => {
    const inFlight = store.findWorkflow('tenant-a', 'p2', 'm1');
    await tdb.db('workflows').where({ client_key: 'tenant-a', page_id: 'p2' }).update({ title: 'renamed' });
    const after = store.findWorkflow('tenant-a', 'p2', 'm1');
    await inFlight;
    expect((await after)?.title).toBe('renamed');
  });
});

describe('ApprovalsStore.findWorkflowAndRequest: a decision\'s workflow with what its Idempotency-Key recorded', () => {
  it('reads the workflow and the recorded decision in the statement of the reads asked with it, and only that key\'s, on that workflow of that tenant', async () => {
    const wfA = (await store.findWorkflow('tenant-a', 'p3', 'm1'))!;
    const wfB = (await store.findWorkflow('tenant-b', 'p3', 'm1'))!;
    const decided = new Date('2026-12-03T08:00:00.123Z');
    const record = async (ck: string, wfId: string, key: string, comment: string) => {
      const [{ id }] = await tdb.db('decisions').insert({ client_key: ck, workflow_id: wfId, approver_id: 'acc-ann', decision: 'approve', comment, page_version: 1, round: 1, via_groups: ['g1'], decided_at: decided }).returning('id');
      await tdb.db('decision_requests').insert({ client_key: ck, workflow_id: wfId, idempotency_key: key, request_hash: `hash of ${comment}`, decision_id: id });
      return Number(id);
    };
    const idA = await record('tenant-a', wfA.id, 'key-1', 'first');
    await record('tenant-b', wfB.id, 'key-2', 'other tenant');

    let found: unknown[] = [];
    const sql = await statementsDuring(async () => {
      found = await Promise.all([
        store.findWorkflowAndRequest('tenant-a', 'p3', 'm1', 'key-1'),
        store.findWorkflowAndRequest('tenant-a', 'p3', 'm1', 'key-2'), // recorded, but by tenant-b
        store.findWorkflowAndRequest('tenant-a', 'p4', 'm1', 'key-1'), // recorded, but on another workflow
        store.findWorkflow('tenant-a', 'p3', 'm1'),
        store.findWorkflowAndRequest('tenant-a', 'p9', 'm1', 'key-1'), // no workflow
        store.findWorkflowAndRequest('tenant-b', 'p3', 'm1', 'key-2'),
      ]);
    });
    expect(sql.filter((s) => /\bworkflows\b/.test(s))).toHaveLength(2);
    const [mine, otherTenantsKey, otherWorkflow, plain, none, theirs] = found as Array<Awaited<ReturnType<ApprovalsStore['findWorkflowAndRequest']>>>;
    expect(mine).toEqual({
      workflow: wfA,
      earlier: {
        idempotencyKey: 'key-1',
        requestHash: 'hash of first',
        decision: { id: idA, workflowId: wfA.id, approverId: 'acc-ann', decision: 'approve', comment: 'first', pageVersion: 1, round: 1, viaGroups: ['g1'], decidedAt: decided, delegateId: null, delegationId: null },
      },
    });
    expect(otherTenantsKey).toEqual({ workflow: wfA, earlier: null });
    expect(otherWorkflow?.earlier).toBeNull();
    expect(otherWorkflow?.workflow.pageId).toBe('p4');
    expect(plain).toEqual(wfA);
    expect(none).toBeNull();
    expect(theirs?.earlier?.decision.comment).toBe('other tenant');
    await expect(store.findWorkflowAndRequest('tenant-a', 'p3', 'm1', '')).rejects.toThrow('needs an Idempotency-Key');
  });
});
