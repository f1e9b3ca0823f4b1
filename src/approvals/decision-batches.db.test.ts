import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { AuditLog } from '../audit/audit-log';
import { AuditStore } from '../audit/audit-store';
import { macKeys } from '../audit/event-mac';
import type { ConfluenceClient, ConfluencePage } from '../confluence/confluence-client';
import type { Principal } from '../confluence/connect-auth';
import { ManualClock } from '../lib/clock';
import { silentLogger } from '../lib/logger';
import { ApprovalsService, DecisionInput } from './approvals-service';
import { ApprovalsStore } from './approvals-store';
import type { BatchOptions } from './decision-batches';
import { approvalsStores } from './approvals-tx-store';
import { DEFAULT_POLICY, SpacePolicyProvider } from './space-policy';

const defaultPolicies: SpacePolicyProvider = { policyFor: async () => DEFAULT_POLICY };

/**
 * Group commit (issue 15): decisions of one tenant that arrive together share one transaction. Whatever the
 * batches, the result must be exactly that of applying the same decisions one by one in arrival order:
 * the same rows in every table and the same chain, hash for hash.
 */
const CK = 'batch-tenant';
const SPACE = 'ENG';
const PAGE: ConfluencePage = {
  id: '4242', type: 'page', title: 'Runbook', spaceId: '1', spaceKey: SPACE, version: 3,
  versionAuthorId: 'acc-author', versionCreatedAt: null, body: '<p>x</p>',
};
const PEOPLE = ['acc-ann', 'acc-ben', 'acc-cat', 'acc-dan', 'acc-eve', 'acc-author', 'acc-mallory'];
// Every workflow on the one page; ids fixed so that both databases hold the same rows.
const WORKFLOWS = [
  { id: '00000000-0000-4000-8000-000000000001', macroId: 'm-all', rule: 'all', quorum: null, rejections: 1, approvers: ['acc-ann', 'acc-ben'] },
  { id: '00000000-0000-4000-8000-000000000002', macroId: 'm-any', rule: 'any', quorum: null, rejections: 1, approvers: ['acc-ann', 'acc-cat', 'acc-author'] },
  { id: '00000000-0000-4000-8000-000000000003', macroId: 'm-quorum', rule: 'quorum', quorum: 2, rejections: 2, approvers: ['acc-ben', 'acc-cat', 'acc-dan', 'acc-eve'] },
  // Never settles: the Idempotency-Key requests on it are answered whatever the order.
  { id: '00000000-0000-4000-8000-000000000004', macroId: 'm-open', rule: 'quorum', quorum: 99, rejections: 99, approvers: ['acc-dan', 'acc-eve'] },
] as const;

interface Request {
  who: string;
  macroId: string;
  input: DecisionInput;
  key?: string;
}

const approve = (who: string, macroId: string, key?: string): Request => ({ who, macroId, input: { decision: 'approve', comment: `ok from ${who}`, pageVersion: 3 }, key });
const reject = (who: string, macroId: string): Request => ({ who, macroId, input: { decision: 'reject', comment: `no: ${who} found a gap`, pageVersion: 3 } });

// Approvals that settle workflows, refusals of every kind (not an approver, the author, a closed workflow,
// another version), a rejection, the same Idempotency-Key twice and the same key reused for another decision.
const REQUESTS: Request[] = [
  approve('acc-dan', 'm-open', 'key-1'),
  approve('acc-ann', 'm-all'),
  approve('acc-mallory', 'm-all'),
  approve('acc-author', 'm-any'),
  approve('acc-cat', 'm-any'),
  approve('acc-ann', 'm-any'),
  approve('acc-ben', 'm-quorum'),
  reject('acc-dan', 'm-quorum'),
  approve('acc-eve', 'm-quorum'),
  approve('acc-ben', 'm-all'),
  approve('acc-dan', 'm-open', 'key-1'),
  reject('acc-eve', 'm-open'),
  { ...approve('acc-eve', 'm-open'), input: { decision: 'approve', comment: 'wrong version', pageVersion: 2 } },
  { ...reject('acc-dan', 'm-open'), key: 'key-1' },
  approve('acc-cat', 'm-quorum'),
];

const FIXED = new Date('2026-12-02T04:00:00.000Z');

async function prepare(db: Knex): Promise<void> {
  for (const w of WORKFLOWS) {
    await db('workflows').insert({
      client_key: CK, id: w.id, page_id: PAGE.id, content_type: 'page', macro_id: w.macroId, space_key: SPACE, page_title: PAGE.title,
      state: 'pending', rule: w.rule, quorum: w.quorum, rejections: w.rejections, approvers: [...w.approvers], groups: [], bound_version: 3,
      body_hash: null, bound_author_id: 'acc-author', review_days: 30,
    });
  }
  // The same salts in both databases, so that people have the same refs in both chains.
  await db('audit_subjects').insert(
    PEOPLE.map((accountId, i) => {
      const salt = Buffer.alloc(16, i + 1);
      return { client_key: CK, account_id: accountId, salt, ref: createHash('sha256').update(salt).update(accountId).digest('hex') };
    }),
  );
}

/** `onBatch`: told how many workflows each batch locks. */
function serviceOn(db: Knex, decisionBatches: BatchOptions, onBatch?: (workflows: number) => void) {
  const confluence = {
    readAccess: async () => 'granted',
    getPage: async () => PAGE,
    getPageHead: async () => PAGE,
    groupsOf: async () => [],
  } as unknown as ConfluenceClient;
  const store = new ApprovalsStore(db);
  const audit = new AuditLog({ store: new AuditStore(db), macKey: macKeys(Buffer.alloc(32, 7)), now: () => FIXED.getTime() });
  const stores = approvalsStores(db, { store, audit, policiesIn: () => defaultPolicies });
  if (onBatch) {
    const decisionBatch = stores.decisionBatch;
    stores.decisionBatch = (work) => decisionBatch((tx) => work({ ...tx, lockAndRead: (ck, q) => (onBatch(q.macros.length), tx.lockAndRead(ck, q)) }));
  }
  const service = new ApprovalsService({ stores, confluence, policies: defaultPolicies, clock: new ManualClock(FIXED), logger: silentLogger(), decisionBatches });
  return { service, store, stores };
}

const principal = (accountId: string): Principal => ({ clientKey: CK, accountId, hostBaseUrl: 'https://example.atlassian.net/wiki' });
const decide = (service: ApprovalsService, r: Request) => service.decide(principal(r.who), PAGE.id, r.macroId, r.input, null, r.key ?? null);

/** Every row of the tenant in the tables a decision writes, as text, without the database's own timestamps. */
async function tables(db: Knex): Promise<Record<string, unknown[]>> {
  const rows = async (table: string, order: string, drop: string[] = []) =>
    (await db(table).where({ client_key: CK }).orderByRaw(order)).map((r: Record<string, unknown>) => {
      for (const c of drop) delete r[c];
      return JSON.stringify(r, (_k, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
    });
  return {
    workflows: await rows('workflows', 'id', ['created_at', 'updated_at']),
    decisions: await rows('decisions', 'id'),
    decision_requests: await rows('decision_requests', 'decision_id', ['created_at']),
    audit_events: await rows('audit_events', 'seq'),
    audit_heads: await rows('audit_heads', 'client_key'),
    audit_subjects: await rows('audit_subjects', 'account_id', ['created_at']),
  };
}

let batched: TestDatabase;
let sequential: TestDatabase;

beforeAll(async () => {
  [batched, sequential] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  await Promise.all([prepare(batched.db), prepare(sequential.db)]);
});

afterAll(async () => {
  await Promise.all([batched?.drop(), sequential?.drop()]);
});

it('leaves every table and the chain exactly as applying the same decisions one by one would', async () => {
  const batches: number[] = []; // workflows locked by each batch
  const a = serviceOn(batched.db, { maxBatch: 32, maxConcurrent: 1 }, (n) => batches.push(n));
  const arrivals: Request[] = [];
  // The order the batches receive the decisions in (each announced first as coming, then submitted through its ticket).
  type Tickets = { coming: (key: string) => { submit: (job: unknown) => Promise<unknown>; cancel: () => void } };
  const batcher = (a.service as unknown as { decisions: Tickets }).decisions;
  const realComing = batcher.coming.bind(batcher);
  batcher.coming = (key) => {
    const ticket = realComing(key);
    return {
      cancel: ticket.cancel,
      submit: (job) => {
        const j = job as { p: Principal; macroId: string; input: DecisionInput; idempotencyKey: string | null };
        arrivals.push({ who: j.p.accountId, macroId: j.macroId, input: j.input, key: j.idempotencyKey ?? undefined });
        return ticket.submit(job);
      },
    };
  };

  // Hold one workflow so that the first batch waits and the others pile up behind it.
  const holder = await batched.db.transaction();
  await holder('workflows').where({ client_key: CK, macro_id: 'm-open' }).forUpdate();
  // Sent one after another: each reaches the batcher (or is answered before it) before the next is sent, so they
  // queue behind the held lock in this order whatever the checks before the batcher cost (the repeats of key-1
  // must find the first one, not the reuse of its key for a rejection).
  const answers: Array<Promise<{ ok: true; x: Awaited<ReturnType<typeof decide>> } | { ok: false; e: Error }>> = [];
  for (const r of REQUESTS) {
    const queued = arrivals.length;
    let answered = false;
    answers.push(decide(a.service, r).then((x) => ({ ok: true as const, x }), (e: Error) => ({ ok: false as const, e })).finally(() => (answered = true)));
    for (let i = 0; i < 400 && arrivals.length === queued && !answered; i++) await new Promise((res) => setTimeout(res, 5));
  }
  await new Promise((r) => setTimeout(r, 500));
  await holder.commit();
  const batchedAnswers = await Promise.all(answers);
  expect(arrivals).toHaveLength(REQUESTS.length);
  expect(batches.length).toBeLessThan(REQUESTS.length);
  expect(Math.max(...batches)).toBeGreaterThan(2);

  // The same requests, in the order the batched service received them, each alone and each awaited.
  const b = serviceOn(sequential.db, { maxBatch: 1, maxConcurrent: 1 });
  const sequentialAnswers = [];
  for (const r of arrivals) sequentialAnswers.push(await decide(b.service, r).then((x) => ({ ok: true as const, x }), (e: Error) => ({ ok: false as const, e })));

  const shape = (x: { ok: true; x: Awaited<ReturnType<typeof decide>> } | { ok: false; e: Error }) =>
    // A replay shows the workflow as it is when answered, which in a batch includes the decisions after it.
    x.ok ? (x.x.replayed ? { replayed: true } : { state: x.x.view.workflow.state, decisions: x.x.view.decisions.map((d) => d.id) }) : { error: x.e.message };
  const byRequest = (list: Array<Parameters<typeof shape>[0]>, order: Request[]) => new Map(order.map((r, i) => [r, shape(list[i])]));
  const sequentialByArrival = byRequest(sequentialAnswers, arrivals);
  // Each caller got the answer it would have got alone (arrivals are the same request objects, reordered).
  const batchedByRequest = byRequest(batchedAnswers, REQUESTS);
  for (const r of REQUESTS) expect([r.who, r.macroId, batchedByRequest.get(r)]).toEqual([r.who, r.macroId, sequentialByArrival.get(arrivals.find((x) => x.who === r.who && x.macroId === r.macroId && x.input === r.input && (x.key ?? null) === (r.key ?? null))!)]);

  const [ta, tb] = await Promise.all([tables(batched.db), tables(sequential.db)]);
  expect(ta).toEqual(tb);
  // The scenario exercised what it is meant to: settled workflows, refusals, a repeat, chain events.
  expect(ta.audit_events.length).toBeGreaterThan(8);
  expect(batchedAnswers.filter((x) => !x.ok).length).toBeGreaterThanOrEqual(4);
  expect(batchedAnswers.some((x) => x.ok && x.x.replayed)).toBe(true);
  const ca = new AuditLog({ store: new AuditStore(batched.db) });
  expect(await ca.verify(batched.db, CK)).toMatchObject({ ok: true });
});

it('takes two round trips per batch: BEGIN with its reads and locks, COMMIT with its writes and events', async () => {
  const tdb = await createTestDatabase();
  try {
    await prepare(tdb.db);
    const { service, stores } = serviceOn(tdb.db, { maxBatch: 32, maxConcurrent: 1 });
    // Every query handed to a pg connection while a batch runs (a pipeline is one query object: one round trip).
    const sent: string[] = [];
    let inBatch = false;
    const client = tdb.db.client as { acquireConnection(): Promise<{ query: (...args: unknown[]) => unknown; counted?: boolean }> };
    const acquire = client.acquireConnection.bind(client);
    client.acquireConnection = async () => {
      const conn = await acquire();
      if (!conn.counted) {
        const query = conn.query.bind(conn);
        conn.query = (q: unknown, ...rest: unknown[]) => {
          if (inBatch) sent.push(typeof q === 'string' ? q : ((q as { constructor: { name: string } }).constructor.name + ' ' + (q as { text?: string }).text));
          return query(q, ...rest);
        };
        conn.counted = true;
      }
      return conn;
    };
    const decisionBatch = stores.decisionBatch;
    stores.decisionBatch = async (work) => {
      inBatch = true;
      try {
        return await decisionBatch(work);
      } finally {
        inBatch = false;
      }
    };
    // The tenant's first event creates its audit head: one round trip more, once.
    await decide(service, approve('acc-ann', 'm-all'));
    expect(sent).toHaveLength(3);
    sent.length = 0;
    await decide(service, approve('acc-cat', 'm-any'));
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatch(/^PipelinedQuery BEGIN/);
    expect(sent.every((q) => q.startsWith('PipelinedQuery '))).toBe(true);
    // Recorded, with their events, and visible to anyone else once answered.
    expect(Number((await tdb.db('decisions').where({ client_key: CK }).count<{ count: string }[]>('* as count'))[0].count)).toBe(2);
    expect(await tdb.db('audit_events').where({ client_key: CK }).orderBy('seq').pluck('action')).toEqual(['decision.approved', 'decision.approved', 'workflow.approved']);
  } finally {
    await tdb.drop();
  }
});

it('plans its prepared statements once per connection, the workflow reads before the batch included', async () => {
  const tdb = await createTestDatabase();
  const one = tdb.pool(1); // every statement on one connection: what it prepared, and how it planned them, is visible
  try {
    await prepare(tdb.db);
    const { service } = serviceOn(one, { maxBatch: 32, maxConcurrent: 1 });
    for (let i = 0; i < 4; i++) {
      await decide(service, approve('acc-dan', 'm-open', `plan-${i}`));
      await decide(service, approve('acc-eve', 'm-open'));
    }
    const { rows } = await one.raw<{ rows: Array<{ statement: string; generic_plans: string; custom_plans: string }> }>('select statement, generic_plans, custom_plans from pg_prepared_statements');
    const plans = rows.map((r) => ({ statement: r.statement.replace(/\s+/g, ' ').trim().slice(0, 40), generic: Number(r.generic_plans), custom: Number(r.custom_plans) }));
    // The workflows read before the batch (with or without a key), and the batch's read under its locks.
    expect(plans.filter((p) => p.generic >= 8).map((p) => p.statement)).toEqual(expect.arrayContaining(['SELECT to_jsonb(w) AS workflow, k.idempo', 'SELECT (SELECT coalesce(json_agg(x ORDER']));
    // PostgreSQL's default makes five custom plans of a statement before it considers a generic one.
    expect(plans.filter((p) => p.custom > 0)).toEqual([]);
  } finally {
    await one.destroy();
    await tdb.drop();
  }
});

it('announces each decision to the batches from its first check until it is submitted, refused, or replayed', async () => {
  const tdb = await createTestDatabase();
  try {
    await prepare(tdb.db);
    const { service } = serviceOn(tdb.db, { maxBatch: 32, maxConcurrent: 1, maxLingerMs: 50 });
    const keys = (service as unknown as { decisions: { keys: Map<string, { coming: number }> } }).decisions.keys;
    // Confluence answers acc-eve's permission check only when the test says so.
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const confluence = (service as unknown as { deps: { confluence: { readAccess: (ck: string, page: string, who: string) => Promise<string> } } }).deps.confluence;
    confluence.readAccess = async (_ck, _page, who) => (who === 'acc-eve' ? held.then(() => 'granted') : 'granted');

    const waiting = decide(service, approve('acc-eve', 'm-open', 'key-eve'));
    await new Promise((r) => setTimeout(r, 20));
    expect(keys.get(CK)?.coming).toBe(1);
    answer();
    expect((await waiting).replayed).toBe(false);
    expect(keys.size).toBe(0);

    // The same key again (answered with the recorded decision before the batches), a rejection without a comment and
    // an unknown workflow (refused before them): none leaves its ticket behind.
    expect((await decide(service, approve('acc-eve', 'm-open', 'key-eve'))).replayed).toBe(true);
    await expect(decide(service, { ...reject('acc-dan', 'm-open'), input: { decision: 'reject', comment: ' ', pageVersion: 3 } })).rejects.toThrow('needs a comment');
    await expect(decide(service, approve('acc-dan', 'm-nowhere'))).rejects.toThrow('no approval workflow');
    expect(keys.size).toBe(0);
  } finally {
    await tdb.drop();
  }
});
