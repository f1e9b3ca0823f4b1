import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { pipelinedTransaction, statementOf } from '../db/pipeline';
import { InputError } from '../lib/errors';
import { AuditEventError, AuditEventInput, AuditLog, createAuditLog, LockedHead } from './audit-log';
import { AuditStore } from './audit-store';
import { macKeys } from './event-mac';

/** Any 32 bytes: the tests' ATTEST_SECRET_KEY, from which event MAC keys derive. */
const TEST_SECRET_KEY = Buffer.alloc(32, 7);

let tdb: TestDatabase;
let db: Knex;
let audit: AuditLog;

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = tdb.db;
  audit = createAuditLog(db, TEST_SECRET_KEY);
  await db.raw('create table business_change (client_key text not null, note text not null)');
});

afterAll(async () => {
  await tdb.drop();
});

let tenantCounter = 0;
const newTenant = () => `tenant-${++tenantCounter}-${Date.now().toString(36)}`;

const PAGE = { id: '98305', version: 3, title: 'Release plan «Q4» \u{1F680}', bodyHash: 'ab'.repeat(32) };

function sample(i: number): AuditEventInput {
  const config = { title: null, rule: 'all', quorum: null, rejections: 1, approvers: [], groups: [], due: null, reviewDays: i };
  const moved = { fromVersion: 3, toVersion: 4, contentChanged: true, resetOnEdit: 'content', previousState: 'pending', cause: 'webhook', reason: `n ${i}` };
  const kinds: AuditEventInput[] = [
    { action: 'workflow.created', actor: { type: 'user', accountId: 'acc-alice' }, spaceKey: 'DOC', page: PAGE, workflowId: 'wf-1', data: { macroId: `m-${i}`, config } },
    { action: 'decision.approved', actor: { type: 'user', accountId: 'acc-bob' }, spaceKey: 'DOC', page: PAGE, workflowId: 'wf-1', data: { decision: 'approve', comment: 'LGTM "ok"\n\\', round: i, viaGroups: [] } },
    { action: 'workflow.expired', actor: { type: 'system' }, spaceKey: 'DOC', workflowId: 'wf-1', data: { approvedAt: '2026-01-01T00:00:00.000Z', reviewDays: 30, previousRound: i, round: i + 1, reason: 'lapsed' } },
    { action: 'workflow.rebound', actor: { type: 'confluence', accountId: 'acc-carol' }, spaceKey: 'OPS', page: { ...PAGE, id: '7', version: 4, bodyHash: null }, data: moved },
    { action: 'workflow.archived', actor: { type: 'confluence', accountId: null }, page: { ...PAGE, id: '8' }, data: { previousState: 'pending', cause: `page_trashed ${i}` } },
  ];
  return kinds[i % kinds.length];
}

async function appendMany(clientKey: string, n: number, log = audit, pool = db): Promise<void> {
  for (let i = 0; i < n; i++) await pool.transaction((trx) => log.append(trx, clientKey, sample(i)));
}

/** Runs tampering statements as the superuser with the append-only trigger switched off. */
async function tamper(...statements: Array<[string, unknown[]?]>): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('set local session_replication_role = replica');
    for (const [sql, bindings] of statements) await trx.raw(sql, (bindings ?? []) as Knex.RawBinding[]);
  });
}

// An independent implementation of the formula (node:crypto only, nothing from src/audit).
const sha = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const genesis = (ck: string) => sha(Buffer.from(`attest-audit-v1\n${ck}`, 'utf8'));
const leafOf = (canonical: string) => sha(Buffer.from([0]), Buffer.from(canonical, 'utf8'));
const chainOf = (prev: Buffer, leaf: Buffer) => sha(Buffer.from([1]), prev, leaf);
/** JCS for the plain values these tests use: sorted keys, JSON.stringify for scalars. */
const jcs = (v: unknown): string =>
  v === null || typeof v !== 'object'
    ? JSON.stringify(v)
    : Array.isArray(v)
      ? `[${v.map(jcs).join(',')}]`
      : `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${jcs((v as Record<string, unknown>)[k])}`)
          .join(',')}}`;

describe('append', () => {
  it('records events that verify, with refs instead of accountIds and times from the database', async () => {
    const ck = newTenant();
    const before = new Date();
    const first = await db.transaction((trx) => audit.append(trx, ck, sample(0)));
    expect(first).toMatchObject({ clientKey: ck, seq: 1, action: 'workflow.created', spaceKey: 'DOC', page: PAGE, workflowId: 'wf-1' });
    expect(first.prevChainHash).toBe(genesis(ck).toString('hex'));
    expect(first.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(Math.abs(new Date(first.at).getTime() - before.getTime())).toBeLessThan(60_000);
    expect(first.actor.type).toBe('user');
    expect(first.actor.ref).toMatch(/^[0-9a-f]{64}$/);

    await appendMany(ck, 9);
    const res = await audit.verify(db, ck);
    expect(res).toMatchObject({ ok: true, rows: 10, firstSeq: 1, lastSeq: 10 });

    const rows = await db('audit_events').where({ client_key: ck }).orderBy('seq');
    const head = await db('audit_heads').where({ client_key: ck }).first();
    expect(Number(head.seq)).toBe(10);
    expect(res.ok && res.head).toBe(head.chain_hash.toString('hex'));
    for (const r of rows) {
      expect(r.canonical).not.toMatch(/acc-(alice|bob|carol)/);
      // pg's Date keeps milliseconds; the verifier compares the microseconds.
      expect(JSON.parse(r.canonical).at.slice(0, 23)).toBe(r.recorded_at.toISOString().slice(0, 23));
    }
    // Times follow seq order.
    const ats = rows.map((r) => JSON.parse(r.canonical).at as string);
    expect([...ats].sort()).toEqual(ats);
  });

  it('links a ref to its accountId only through audit_subjects', async () => {
    const ck = newTenant();
    const ev = await db.transaction((trx) => audit.append(trx, ck, sample(1)));
    const subject = await db('audit_subjects').where({ client_key: ck, account_id: 'acc-bob' }).first();
    expect(subject.salt).toHaveLength(16);
    expect(subject.ref).toBe(sha(subject.salt, Buffer.from('acc-bob', 'utf8')).toString('hex'));
    expect(ev.actor.ref).toBe(subject.ref);

    // The same person keeps the same ref; another tenant gets another salt and ref.
    const again = await db.transaction((trx) => audit.append(trx, ck, sample(1)));
    expect(again.actor.ref).toBe(subject.ref);
    const other = await db.transaction((trx) => audit.append(trx, newTenant(), sample(1)));
    expect(other.actor.ref).not.toBe(subject.ref);

    const refs = await db.transaction((trx) => audit.refs(trx, ck, ['acc-new', 'acc-bob', 'acc-new']));
    expect(refs[1]).toBe(subject.ref);
    expect(refs[0]).toBe(refs[2]);
    expect(refs[0]).not.toBe(subject.ref);
  });

  it('gives one ref to an account first seen by two service instances at once', async () => {
    const ck = newTenant();
    const other = createAuditLog(tdb.pool(4), TEST_SECRET_KEY);
    const refs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? db : tdb.pool(2)).transaction((trx) => (i % 2 ? audit : other).refFor(trx, ck, 'acc-race')),
      ),
    );
    expect(new Set(refs).size).toBe(1);
  });

  it('records people in data through refs, and refuses accountId-like keys and non-JSON values', async () => {
    const ck = newTenant();
    const ev = await db.transaction(async (trx) => {
      const approvers = await audit.refs(trx, ck, ['acc-alice', 'acc-bob']);
      const config = { title: null, rule: 'all', quorum: null, rejections: 1, approvers, groups: [], due: null, reviewDays: null };
      return audit.append(trx, ck, { action: 'workflow.created', actor: { type: 'user', accountId: 'acc-alice' }, data: { macroId: 'm', config } });
    });
    expect((ev.data.config as { approvers: string[] }).approvers).toEqual([ev.actor.ref, expect.stringMatching(/^[0-9a-f]{64}$/)]);

    // Off-catalogue actions ('x') reach the format's own checks: each is refused for its own reason first.
    const bad = [
      { action: 'x', actor: { type: 'system' }, data: { approvers: [{ accountId: 'acc-alice' }] } },
      { action: 'x', actor: { type: 'system' }, data: { at: new Date() } },
      { action: 'x', actor: { type: 'user' } },
      { action: 'x', actor: { type: 'system', accountId: 'acc-alice' } },
      { action: '', actor: { type: 'system' } },
      { action: 'x', actor: { type: 'robot' as 'user' } },
      { action: 'x', actor: { type: 'system' }, page: { ...PAGE, bodyHash: 'AB'.repeat(32) } },
      { action: 'x', actor: { type: 'system' }, page: { ...PAGE, version: 0 } },
    ] as unknown as AuditEventInput[];
    for (const input of bad) {
      await expect(db.transaction((trx) => audit.append(trx, ck, input))).rejects.toBeInstanceOf(AuditEventError);
    }
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: 1 });
  });

  it('appends only actions of the catalogue, each with the data it declares', async () => {
    const ck = newTenant();
    const off = [
      [{ action: 'page.updated', actor: { type: 'system' }, data: {} }, /"page.updated" is not in the audit action catalogue/],
      [{ action: 'subject.erased', actor: { type: 'system' }, data: { ref: null } }, /subject.erased data: reason: /],
      [{ action: 'subject.erased', actor: { type: 'system' }, data: { ref: null, reason: 'x', note: 'y' } }, /subject.erased data: \(root\): Unrecognized key/],
      [{ action: 'decision.approved', actor: { type: 'system' }, data: { decision: 'maybe', comment: '', round: 1, viaGroups: [] } }, /decision.approved data: decision: /],
    ] as const;
    for (const [input, message] of off) {
      await expect(db.transaction((trx) => audit.append(trx, ck, input as unknown as AuditEventInput))).rejects.toThrow(message);
    }
    await db.transaction((trx) => audit.append(trx, ck, { action: 'subject.erased', actor: { type: 'system' }, data: { ref: null, reason: 'x' } }));
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: 1 });
  });

  it('keeps seq 1..200 without a gap under 200 concurrent appends from two pools', async () => {
    const ck = newTenant();
    const second = tdb.pool(10);
    const secondLog = createAuditLog(second, TEST_SECRET_KEY);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 2
          ? db.transaction((trx) => audit.append(trx, ck, sample(i)))
          : second.transaction((trx) => secondLog.append(trx, ck, sample(i))),
      ),
    );
    const rows = await db('audit_events').where({ client_key: ck }).orderBy('seq').select('seq', 'canonical');
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const ats = rows.map((r) => JSON.parse(r.canonical).at as string);
    expect([...ats].sort()).toEqual(ats);
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: 200, firstSeq: 1, lastSeq: 200 });
    expect(await secondLog.verify(second, ck)).toMatchObject({ ok: true, rows: 200 });
  });

  it('keeps tenants in independent chains', async () => {
    const a = newTenant();
    const b = newTenant();
    await Promise.all([appendMany(a, 6), appendMany(b, 4)]);
    expect(await audit.verify(db, a)).toMatchObject({ ok: true, rows: 6, lastSeq: 6 });
    expect(await audit.verify(db, b)).toMatchObject({ ok: true, rows: 4, lastSeq: 4 });
    const firstB = await db('audit_events').where({ client_key: b, seq: 1 }).first();
    expect(JSON.parse(firstB.canonical).tenant).toBe(b);

    await tamper([`delete from audit_events where client_key = ? and seq = 3`, [a]]);
    expect(await audit.verify(db, a)).toMatchObject({ ok: false, seq: 3 });
    expect(await audit.verify(db, b)).toMatchObject({ ok: true, rows: 4 });
  });

  it('rolls back the caller’s change when the append fails', async () => {
    const ck = newTenant();
    await appendMany(ck, 2);
    // A row squatting on the next seq makes the insert fail inside the append.
    await tamper([
      `insert into audit_events (client_key, seq, recorded_at, action, canonical, leaf_hash, chain_hash)
       values (?, 3, now(), 'squat', '{}', ?, ?)`,
      [ck, Buffer.alloc(32), Buffer.alloc(32)],
    ]);
    await expect(
      db.transaction(async (trx) => {
        await trx('business_change').insert({ client_key: ck, note: 'approved' });
        await audit.append(trx, ck, sample(1));
      }),
    ).rejects.toThrow(/audit_events_pkey/);
    await expect(
      db.transaction(async (trx) => {
        await trx('business_change').insert({ client_key: ck, note: 'approved' });
        await audit.append(trx, ck, { action: 'x', actor: { type: 'user' } } as unknown as AuditEventInput);
      }),
    ).rejects.toBeInstanceOf(AuditEventError);
    expect(await db('business_change').where({ client_key: ck })).toEqual([]);
    const head = await db('audit_heads').where({ client_key: ck }).first();
    expect(Number(head.seq)).toBe(2);
  });

  it('creates no head and no subject when the first append of a tenant rolls back', async () => {
    const ck = newTenant();
    await expect(
      db.transaction(async (trx) => {
        await audit.append(trx, ck, sample(0));
        throw new Error('business rule failed after the audit event');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await db('audit_heads').where({ client_key: ck })).toEqual([]);
    expect(await db('audit_events').where({ client_key: ck })).toEqual([]);
    expect(await db('audit_subjects').where({ client_key: ck })).toEqual([]);
  });
});

describe('appends in a pipelined transaction (the append and the commit in one round trip, as a decision batch sends them)', () => {
  // A change, the people's subjects and refs, the head (created the first time) and its lock in one round trip;
  // the events built on that head and sent with COMMIT in the next (src/approvals/decision-batch-tx.ts).
  const inTrx = (ck: string, note: string, events: AuditEventInput[], log = audit, pool = db) =>
    pipelinedTransaction(pool, async (tx) => {
      const people = [...new Set(events.map((e) => e.actor.accountId).filter((id): id is string => !!id))];
      const [subjects, refs] = people.length ? log.subjectStatements(ck, people) : [null, null];
      const first = await tx.send([
        statementOf(pool('business_change').insert({ client_key: ck, note }), () => undefined),
        ...(subjects && refs ? [subjects, refs] : []),
        { ...log.ensureHeadStatement(ck), flush: true },
        { ...log.headStatement(ck), flush: true },
      ]);
      const n = first.results.length;
      log.headLockWaited(Number(first.completedAt[n - 1] - first.completedAt[n - 2]) / 1e9);
      const found = (subjects ? first.results[2] : new Map()) as unknown as Map<string, string>;
      const append = log.appendStatement(ck, first.results[n - 1] as unknown as LockedHead, found, events);
      await tx.commit([append.statement]);
      append.counted();
      return append.events;
    });

  it('commits the change with its events, numbered in order, in one chain with appends made the other way', async () => {
    const ck = newTenant();
    await appendMany(ck, 2);
    const events = await inTrx(ck, 'decided', [sample(1), sample(2)]);
    expect(events.map((e) => e.seq)).toEqual([3, 4]);
    expect(events[1].prevChainHash).toBe(events[0].chainHash);
    await db.transaction((trx) => audit.append(trx, ck, sample(3)));
    expect(await db('business_change').where({ client_key: ck }).pluck('note')).toEqual(['decided']);
    const rows = await db('audit_events').where({ client_key: ck }).orderBy('seq');
    expect(rows.map((r) => r.canonical).slice(2, 4)).toEqual(events.map((e) => e.canonical));
    expect(rows[3].chain_hash.toString('hex')).toBe(events[1].chainHash);
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: 5, lastSeq: 5 });
    expect(await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: 5 })).toEqual({ ok: true });
  });

  it('keeps the chain whole under 200 concurrent transactions from two pools, mixed with single appends', async () => {
    const ck = newTenant();
    const second = tdb.pool(10);
    const secondLog = createAuditLog(second, TEST_SECRET_KEY);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 3 === 0
          ? db.transaction((trx) => audit.append(trx, ck, sample(i))).then(() => 1)
          : (i % 3 === 1 ? inTrx(ck, `n${i}`, [sample(i)]) : inTrx(ck, `n${i}`, [sample(i), sample(i + 1)], secondLog, second)).then((e) => e.length),
      ),
    );
    const total = results.reduce((a, b) => a + b, 0);
    const rows = await db('audit_events').where({ client_key: ck }).orderBy('seq').select('seq', 'canonical');
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const ats = rows.map((r) => JSON.parse(r.canonical).at as string);
    expect([...ats].sort()).toEqual(ats);
    expect(await db('business_change').where({ client_key: ck }).count<{ n: number }[]>('* as n').first()).toEqual({ n: 133 });
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: total, lastSeq: total });
    expect(await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: total })).toEqual({ ok: true });
  });

  it('leaves no half-written event and no change when it fails between locking the head and the commit', async () => {
    const ck = newTenant();
    await appendMany(ck, 2);
    let clockFails = true;
    const failing = new AuditLog({
      store: new AuditStore(db),
      macKey: macKeys(TEST_SECRET_KEY),
      now: () => {
        if (clockFails) throw new Error('crashed holding the head lock');
        return Date.now();
      },
    });
    await expect(inTrx(ck, 'lost', [sample(1)], failing)).rejects.toThrow('crashed holding the head lock');
    // The database refuses what does not extend the head: a squatter on the next seq aborts the whole transaction.
    await tamper([
      `insert into audit_events (client_key, seq, recorded_at, action, canonical, leaf_hash, chain_hash)
       values (?, 3, now(), 'squat', '{}', ?, ?)`,
      [ck, Buffer.alloc(32), Buffer.alloc(32)],
    ]);
    await expect(inTrx(ck, 'lost too', [sample(1)])).rejects.toThrow(/audit_events_pkey/);
    await tamper([`delete from audit_events where client_key = ? and seq = 3`, [ck]]);
    expect(await db('business_change').where({ client_key: ck })).toEqual([]);
    expect(Number((await db('audit_heads').where({ client_key: ck }).first()).seq)).toBe(2);
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: 2 });
    // The lock was released: the next transaction appends at seq 3.
    clockFails = false;
    expect((await inTrx(ck, 'kept', [sample(1)], failing)).map((e) => e.seq)).toEqual([3]);
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: 3 });
  });

  it('is refused by the database unless it extends the locked head with the canonical text\'s own hashes', async () => {
    const ck = newTenant();
    const [first] = await inTrx(ck, 'one', [sample(0)]);
    const store = new AuditStore(db);
    const attempt = (prevSeq: number, prevChain: Buffer | null, change: (r: Record<string, unknown>) => void) =>
      pipelinedTransaction(db, async (tx) => {
        const row: Record<string, unknown> = {
          seq: prevSeq + 1, recordedAt: first.at, action: 'x', spaceKey: null, pageId: null, workflowId: null, actorRef: null,
          canonical: first.canonical, leafHash: Buffer.from(first.leafHash, 'hex'), chainHash: Buffer.from(first.chainHash, 'hex'), mac: Buffer.alloc(32),
        };
        change(row);
        await tx.commit([store.appendEventsStatement(ck, prevSeq, prevChain, [row as never])]);
      });
    const head = Buffer.from(first.chainHash, 'hex');
    await expect(attempt(0, null, () => undefined)).rejects.toThrow(/head of .* is not at seq 0/);
    await expect(attempt(1, head, () => undefined)).rejects.toThrow(/does not extend the chain/);
    await expect(attempt(1, head, (r) => (r.chainHash = chainOf(head, r.leafHash as Buffer)))).resolves.toBeUndefined();
    // That one extended the head with a valid link; the next must not go back in time.
    const two = Buffer.from((await db('audit_heads').where({ client_key: ck }).first()).chain_hash);
    await expect(
      attempt(2, two, (r) => {
        r.recordedAt = '2000-01-01T00:00:00.000000Z';
        r.chainHash = chainOf(two, r.leafHash as Buffer);
      }),
    ).rejects.toThrow(/earlier than the one before it/);
    expect(Number((await db('audit_heads').where({ client_key: ck }).first()).seq)).toBe(2);
  });

  it('reports the wait for the head lock once per append', async () => {
    const ck = newTenant();
    const waits: number[] = [];
    const timed = createAuditLog(db, TEST_SECRET_KEY, { onHeadLockWait: (s) => waits.push(s) });
    const holder = await db.transaction();
    try {
      await holder.raw('insert into audit_heads (client_key, seq) values (?, 0)', [ck]);
      await holder.commit();
    } catch (err) {
      await holder.rollback();
      throw err;
    }
    const blocker = await db.transaction();
    await blocker.raw('select 1 from audit_heads where client_key = ? for update', [ck]);
    const pending = inTrx(ck, 'waited', [sample(0)], timed);
    // Hold the lock for 300 ms more once the append is queued on it (seen by PostgreSQL, bounded in time).
    const queued = async () =>
      Number((await db.raw(`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%from audit_heads where client_key = $1 for update'`)).rows[0].n);
    for (const until = Date.now() + 10_000; Date.now() < until && (await queued()) === 0; ) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    await blocker.commit();
    await pending;
    await db.transaction((trx) => timed.append(trx, ck, sample(1)));
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(0.25);
    expect(waits[1]).toBeLessThan(0.25);
  });
});

describe('the append-only trigger', () => {
  it('rejects UPDATE, DELETE and TRUNCATE of audit_events', async () => {
    const ck = newTenant();
    await appendMany(ck, 2);
    await expect(db('audit_events').where({ client_key: ck, seq: 1 }).update({ action: 'x' })).rejects.toThrow(
      /append-only: UPDATE/,
    );
    await expect(db('audit_events').where({ client_key: ck, seq: 2 }).delete()).rejects.toThrow(/append-only: DELETE/);
    await expect(db.raw('truncate audit_events')).rejects.toThrow(/append-only: TRUNCATE/);
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: 2 });
  });
});

describe('verify', () => {
  const CHAIN = 10;
  async function chain(): Promise<string> {
    const ck = newTenant();
    await appendMany(ck, CHAIN);
    return ck;
  }
  const row = (ck: string, seq: number) => db('audit_events').where({ client_key: ck, seq }).first();

  it('agrees with an independent implementation of the formula', async () => {
    const ck = await chain();
    const rows = await db('audit_events').where({ client_key: ck }).orderBy('seq');
    const subjects = await db('audit_subjects').where({ client_key: ck });
    let prev = genesis(ck);
    for (const r of rows) {
      const leaf = leafOf(r.canonical);
      expect(r.leaf_hash.toString('hex')).toBe(leaf.toString('hex'));
      const ch = chainOf(prev, leaf);
      expect(r.chain_hash.toString('hex')).toBe(ch.toString('hex'));
      prev = ch;
      const doc = JSON.parse(r.canonical);
      expect(jcs(doc)).toBe(r.canonical);
      expect(Object.keys(doc).sort()).toEqual(['action', 'actor', 'at', 'data', 'page', 'seq', 'space', 'tenant', 'v', 'workflow']);
      expect(doc).toMatchObject({ v: 1, tenant: ck, seq: Number(r.seq), action: r.action });
      if (doc.actor.ref) {
        const s = subjects.find((x) => x.ref === doc.actor.ref);
        expect(sha(s.salt, Buffer.from(s.account_id, 'utf8')).toString('hex')).toBe(doc.actor.ref);
      }
    }
    const head = await db('audit_heads').where({ client_key: ck }).first();
    expect(head.chain_hash.toString('hex')).toBe(prev.toString('hex'));
  });

  it('accepts a chain written by an independent implementation, across batch boundaries', async () => {
    const ck = newTenant();
    const n = 2500;
    let prev = genesis(ck);
    const start = Date.parse('2026-01-01T00:00:00Z');
    const rows = [];
    for (let seq = 1; seq <= n; seq++) {
      const at = new Date(start + seq * 1000).toISOString().replace('Z', '456Z');
      const canonical = jcs({ v: 1, tenant: ck, seq, at, action: 'bulk.event', actor: { type: 'system', ref: null }, space: null, page: null, workflow: null, data: { seq } });
      const leaf = leafOf(canonical);
      prev = chainOf(prev, leaf);
      rows.push({ client_key: ck, seq, recorded_at: at, action: 'bulk.event', canonical, leaf_hash: leaf, chain_hash: prev });
    }
    await db.batchInsert('audit_events', rows, 500);
    await db('audit_heads').insert({ client_key: ck, seq: n, chain_hash: prev, updated_at: rows[n - 1].recorded_at });
    expect(await audit.verify(db, ck)).toEqual({ ok: true, rows: n, firstSeq: 1, lastSeq: n, head: prev.toString('hex') });
    expect(await audit.verify(db, ck, { fromSeq: 999, toSeq: 2001 })).toMatchObject({ ok: true, rows: 1003, firstSeq: 999, lastSeq: 2001 });
    // The next append continues that chain.
    const next = await db.transaction((trx) => audit.append(trx, ck, sample(2)));
    expect(next).toMatchObject({ seq: n + 1, prevChainHash: prev.toString('hex') });
    expect(next.at > rows[n - 1].recorded_at).toBe(true);
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true, rows: n + 1 });

    const store = new AuditStore(db);
    const seqs: number[] = [];
    for await (const r of store.events(ck, { fromSeq: 5, toSeq: 12, batchSize: 3 })) seqs.push(r.seq);
    expect(seqs).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('streams past a gap wider than a batch and names the first missing seq', async () => {
    const ck = await chain();
    await tamper([`delete from audit_events where client_key = ? and seq between 3 and 8`, [ck]]);
    const store = new AuditStore(db);
    const seqs: number[] = [];
    for await (const r of store.events(ck, { batchSize: 2 })) seqs.push(r.seq);
    expect(seqs).toEqual([1, 2, 9, 10]);
    seqs.length = 0;
    for await (const r of store.events(ck, { fromSeq: 2, toSeq: 9, batchSize: 2 })) seqs.push(r.seq);
    expect(seqs).toEqual([2, 9]);
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: 3, reason: 'seq 3 missing (found 9)' });
  });

  it('verifies a range from the chain hash before it', async () => {
    const ck = await chain();
    expect(await audit.verify(db, ck, { fromSeq: 4, toSeq: 7 })).toMatchObject({ ok: true, rows: 4, firstSeq: 4, lastSeq: 7 });
    expect(await audit.verify(db, ck, { fromSeq: 4 })).toMatchObject({ ok: true, rows: 7, lastSeq: 10 });
    await expect(audit.verify(db, ck, { fromSeq: 0 })).rejects.toBeInstanceOf(InputError);
  });

  it('names an edited canonical', async () => {
    const ck = await chain();
    const before = (await row(ck, 4)).canonical;
    await tamper([`update audit_events set canonical = replace(canonical, 'Release plan', 'Release plan B') where client_key = ? and seq = 4`, [ck]]);
    expect((await row(ck, 4)).canonical).not.toBe(before);
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: 4, reason: 'seq 4: leaf hash does not match canonical' });
  });

  it('names the next event when an edited canonical got a recomputed leaf and chain hash', async () => {
    const ck = await chain();
    const r = await row(ck, 4);
    const canonical = r.canonical.replace('Release plan', 'Release plan B');
    expect(canonical).not.toBe(r.canonical);
    const prev = (await row(ck, 3)).chain_hash;
    const leaf = leafOf(canonical);
    await tamper([
      `update audit_events set canonical = ?, leaf_hash = ?, chain_hash = ? where client_key = ? and seq = 4`,
      [canonical, leaf, chainOf(prev, leaf), ck],
    ]);
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: 5, reason: 'seq 5: chain hash does not follow from seq 4' });
  });

  it('names a deleted event', async () => {
    const ck = await chain();
    await tamper([`delete from audit_events where client_key = ? and seq = 6`, [ck]]);
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: 6, reason: 'seq 6 missing (found 7)' });
  });

  it('names a deleted last event from the head', async () => {
    const ck = await chain();
    await tamper([`delete from audit_events where client_key = ? and seq = ?`, [ck, CHAIN]]);
    expect(await audit.verify(db, ck)).toEqual({
      ok: false,
      seq: CHAIN,
      reason: `seq ${CHAIN} missing (the events end at seq ${CHAIN - 1}, the head is at seq ${CHAIN})`,
    });
  });

  it('names two events whose payloads were swapped', async () => {
    const ck = await chain();
    await tamper([
      `update audit_events e set canonical = o.canonical, leaf_hash = o.leaf_hash, chain_hash = o.chain_hash,
              action = o.action, recorded_at = o.recorded_at, space_key = o.space_key, page_id = o.page_id,
              workflow_id = o.workflow_id, actor_ref = o.actor_ref
         from audit_events o
        where e.client_key = ? and o.client_key = e.client_key and e.seq in (3, 4) and o.seq = 7 - e.seq`,
      [ck],
    ]);
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: 3, reason: 'seq 3: chain hash does not follow from seq 2' });
  });

  it('names two events whose payloads were swapped and rehashed', async () => {
    const ck = await chain();
    const [r3, r4, r2] = [await row(ck, 3), await row(ck, 4), await row(ck, 2)];
    const leaf3 = leafOf(r4.canonical);
    const chain3 = chainOf(r2.chain_hash, leaf3);
    await tamper([
      `update audit_events set canonical = ?, leaf_hash = ?, chain_hash = ?, action = ? where client_key = ? and seq = 3`,
      [r4.canonical, leaf3, chain3, r4.action, ck],
    ], [
      `update audit_events set canonical = ?, leaf_hash = ?, chain_hash = ?, action = ? where client_key = ? and seq = 4`,
      [r3.canonical, r3.leaf_hash, chainOf(chain3, r3.leaf_hash), r3.action, ck],
    ]);
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: 3, reason: 'seq 3: canonical says seq 4' });
  });

  it('names a forged event appended after the head', async () => {
    const ck = await chain();
    const last = await row(ck, CHAIN);
    const doc = { ...JSON.parse(last.canonical), seq: CHAIN + 1, action: 'decision.approved' };
    const canonical = jcs(doc);
    const leaf = leafOf(canonical);
    await tamper([
      `insert into audit_events (client_key, seq, recorded_at, action, space_key, page_id, workflow_id, actor_ref, canonical, leaf_hash, chain_hash)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ck, CHAIN + 1, doc.at, doc.action, doc.space, doc.page?.id ?? null, doc.workflow, doc.actor.ref, canonical, leaf, chainOf(last.chain_hash, leaf)],
    ]);
    expect(await audit.verify(db, ck)).toEqual({
      ok: false,
      seq: CHAIN + 1,
      reason: `seq ${CHAIN + 1}: beyond the head (head is at seq ${CHAIN})`,
    });
  });

  it('names the event after one forged in between by renumbering', async () => {
    const ck = await chain();
    const r4 = await row(ck, 4);
    const r5 = await row(ck, 5);
    const doc = { ...JSON.parse(r5.canonical), action: 'decision.approved' };
    const canonical = jcs(doc);
    const leaf = leafOf(canonical);
    await tamper(
      [`update audit_events set seq = seq + 1000 where client_key = ? and seq >= 5`, [ck]],
      [`update audit_events set seq = seq - 999 where client_key = ? and seq > 1000`, [ck]],
      [
        `insert into audit_events (client_key, seq, recorded_at, action, space_key, page_id, workflow_id, actor_ref, canonical, leaf_hash, chain_hash)
         values (?, 5, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [ck, doc.at, doc.action, doc.space, doc.page?.id ?? null, doc.workflow, doc.actor.ref, canonical, leaf, chainOf(r4.chain_hash, leaf)],
      ],
      [`update audit_heads set seq = seq + 1 where client_key = ?`, [ck]],
    );
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: 6, reason: 'seq 6: chain hash does not follow from seq 5' });
  });

  it('names a display column that disagrees with the canonical', async () => {
    const ck = await chain();
    await tamper(
      [`update audit_events set recorded_at = recorded_at + interval '1 microsecond' where client_key = ? and seq = 2`, [ck]],
      [`update audit_events set space_key = 'EVIL' where client_key = ? and seq = 5`, [ck]],
    );
    expect(await audit.verify(db, ck)).toMatchObject({ ok: false, seq: 2, reason: expect.stringMatching(/^seq 2: recorded_at .* does not match canonical at /) });
  });

  it('names a head whose chain hash was rewritten', async () => {
    const ck = await chain();
    await db('audit_heads').where({ client_key: ck }).update({ chain_hash: Buffer.alloc(32, 7) });
    expect(await audit.verify(db, ck)).toEqual({ ok: false, seq: CHAIN, reason: `seq ${CHAIN}: the head's chain hash does not match this event` });
  });

  it('reports an empty chain for a tenant without events', async () => {
    expect(await audit.verify(db, newTenant())).toMatchObject({ ok: true, rows: 0, lastSeq: null });
  });
});

describe('authenticated appends (event MACs)', () => {
  /** A superuser's forged event at the head: valid canonical text and hashes, written past the trigger. */
  async function forgeAtHead(ck: string, mac: Buffer | null): Promise<number> {
    const head = await db('audit_heads').where({ client_key: ck }).first();
    const seq = Number(head.seq) + 1;
    const last = await db('audit_events').where({ client_key: ck, seq: seq - 1 }).first();
    const at = JSON.parse(last.canonical).at;
    const doc = { v: 1, tenant: ck, seq, at, action: 'decision.approved', actor: { type: 'user', ref: 'ab'.repeat(32) }, space: 'DOC', page: null, workflow: 'wf-1', data: {} };
    const canonical = jcs(doc);
    const leaf = leafOf(canonical);
    const chain = chainOf(head.chain_hash, leaf);
    await tamper(
      [
        'insert into audit_events (client_key, seq, recorded_at, action, space_key, workflow_id, actor_ref, canonical, leaf_hash, chain_hash, mac) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [ck, seq, at, doc.action, doc.space, doc.workflow, doc.actor.ref, canonical, leaf, chain, mac],
      ],
      ['update audit_heads set seq = ?, chain_hash = ? where client_key = ?', [seq, chain, ck]],
    );
    return seq;
  }

  it('every appended event carries a MAC that checks; a forged head row does not, whatever MAC it carries', async () => {
    const ck = newTenant();
    await appendMany(ck, 4);
    expect(await db('audit_events').where({ client_key: ck }).whereNull('mac')).toHaveLength(0);
    expect(await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: 4 })).toEqual({ ok: true });
    // Hashes alone cannot tell: the forged row chains correctly.
    const seq = await forgeAtHead(ck, null);
    expect(await audit.verify(db, ck)).toMatchObject({ ok: true });
    expect(await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: seq })).toEqual({ ok: false, seq, reason: expect.stringMatching(/no MAC/) });

    const other = newTenant();
    await appendMany(other, 2);
    const withWrongKey = createAuditLog(db, Buffer.alloc(32, 9));
    const foreign = (await db('audit_events').where({ client_key: other, seq: 2 }).first()).mac;
    const seq2 = await forgeAtHead(other, foreign);
    expect(await audit.verifyMacs(db, other, { fromSeq: 1, toSeq: seq2 })).toEqual({ ok: false, seq: seq2, reason: expect.stringMatching(/does not match/) });
    // A log opened with another secret key accepts none of this deployment's rows.
    expect((await withWrongKey.verifyMacs(db, other, { fromSeq: 1, toSeq: 1 })).ok).toBe(false);
  });

  it('rows from before MACs are adopted once; later rows without a MAC, or a rewritten adopted prefix, fail', async () => {
    const ck = newTenant();
    await appendMany(ck, 3);
    // As if written before the migration: no MAC.
    await tamper(['update audit_events set mac = null where client_key = ?', [ck]]);
    expect((await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: 3 })).ok).toBe(false);
    expect(await audit.adoptAllRowsWithoutMac(db)).toContainEqual({ clientKey: ck, throughSeq: 3 });
    expect(await audit.adoptRowsWithoutMac(db, ck)).toBeNull();
    await appendMany(ck, 2);
    expect(await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: 5 })).toEqual({ ok: true });
    const forged = await forgeAtHead(ck, null);
    expect(await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: forged })).toMatchObject({ ok: false, seq: forged });

    // A superuser cannot widen the adoption: its MAC covers the seq and chain hash.
    await tamper(['update audit_mac_adoptions set through_seq = ? where client_key = ?', [forged, ck]]);
    expect(await audit.verifyMacs(db, ck, { fromSeq: 1, toSeq: forged })).toMatchObject({ ok: false, reason: expect.stringMatching(/adoption .* not authentic/) });
  });

  it('takes `at` from the app clock: a clock_timestamp() shadowed through search_path does not backdate events', async () => {
    // A tenant's first event: no earlier event's time to guard against backdating.
    const ck = newTenant();
    await db.raw('create schema if not exists evil');
    await db.raw(`create or replace function evil.clock_timestamp() returns timestamptz language sql as $$ select now() - interval '10 minutes' $$`);
    const before = Date.now();
    const event = await db.transaction(async (trx) => {
      await trx.raw('set local search_path = evil, pg_catalog, public');
      return audit.append(trx, ck, sample(0));
    });
    expect(Date.parse(event.at)).toBeGreaterThanOrEqual(before - 1000);
    expect(event.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect((await audit.verify(db, ck)).ok).toBe(true);
  });

  it('never takes an `at` before the previous event, even when this instance\'s clock is behind', async () => {
    const ck = newTenant();
    const first = await db.transaction((trx) => audit.append(trx, ck, sample(0)));
    const behind = new AuditLog({ store: new AuditStore(db), macKey: () => Buffer.alloc(32, 7), now: () => Date.parse(first.at) - 60_000 });
    const second = await db.transaction((trx) => behind.append(trx, ck, sample(1)));
    expect(second.at >= first.at).toBe(true);
  });
});
