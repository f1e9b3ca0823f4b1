import type { Knex } from 'knex';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { pipelined, pipelinedTransaction, Statement, statementOf } from './pipeline';

let tdb: TestDatabase;
let db: Knex;
let one: Knex; // a pool of one connection: whatever a transaction leaves on it, the next one meets

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = tdb.db;
  one = tdb.pool(1);
  await db.raw('create table pipe_rows (id int primary key, at timestamptz, tags text[], blob bytea)');
});

afterAll(async () => {
  await tdb?.drop();
});

beforeEach(async () => {
  await db('pipe_rows').delete();
});

const ids = async () => (await db('pipe_rows').orderBy('id').pluck('id')).map(Number);
const insert = (id: number, extra: Record<string, unknown> = {}): Statement<void> => statementOf(db('pipe_rows').insert({ id, ...extra }), () => undefined);
const select = (id: number): Statement<Array<Record<string, unknown>>> => statementOf(db('pipe_rows').where({ id }).select('*'), (rows) => rows);

describe('pipelinedTransaction', () => {
  it('runs the statements in order, each seeing the ones before, and reads each one\'s rows with its own reader', async () => {
    const at = new Date('2026-12-03T01:02:03.456Z');
    const results = await pipelinedTransaction(db, async (tx) =>
      (await tx.commit([insert(1, { at, tags: ['a', 'b,c', 'd"e'], blob: Buffer.from([0, 255]) }), select(1), { text: 'select 40 + $1::int as n', values: [2], read: (rows) => Number(rows[0].n) }])).results,
    );
    expect(results[0]).toBeUndefined();
    // Values go through node-postgres as knex's own queries do: a Date, a text[] with quotes and commas, bytes.
    expect(results[1]).toEqual([{ id: 1, at, tags: ['a', 'b,c', 'd"e'], blob: Buffer.from([0, 255]) }]);
    expect(results[2]).toBe(42);
  });

  it('fails as a whole when one statement fails, and nothing of the transaction is committed', async () => {
    await expect(pipelinedTransaction(db, (tx) => tx.commit([insert(1), insert(1), insert(2)]))).rejects.toThrow(/pipe_rows_pkey/);
    expect(await ids()).toEqual([]);
  });

  it('sends BEGIN with the first pipeline and COMMIT with the last', async () => {
    const out = await pipelinedTransaction(one, async (tx) => {
      const first = await tx.send([insert(1), select(1)]);
      expect(first.results[1]).toHaveLength(1);
      // Not committed yet: nobody else sees it.
      expect(await ids()).toEqual([]);
      return (await tx.commit([insert(2)])).results;
    });
    expect(out).toEqual([undefined]);
    expect(await ids()).toEqual([1, 2]);
  });

  it('rolls back work that returns without committing, and the pooled connection is left outside any transaction', async () => {
    await pipelinedTransaction(one, async (tx) => void (await tx.send([insert(1)])));
    expect(await ids()).toEqual([]);
    // The same (only) connection: autocommit again.
    await one('pipe_rows').insert({ id: 3 });
    expect(await ids()).toEqual([3]);
    await expect(pipelinedTransaction(one, async (tx) => tx.commit([]))).rejects.toThrow(/at least one statement/);
  });

  it('rolls back when a statement fails or the work throws; the connection serves the next transaction', async () => {
    await expect(pipelinedTransaction(one, async (tx) => tx.commit([insert(1), insert(1)]))).rejects.toThrow(/pipe_rows_pkey/);
    await expect(
      pipelinedTransaction(one, async (tx) => {
        await tx.send([insert(2)]);
        throw new Error('a check failed after the reads');
      }),
    ).rejects.toThrow('a check failed');
    expect(await ids()).toEqual([]);
    await pipelinedTransaction(one, (tx) => tx.commit([insert(4)]));
    expect(await ids()).toEqual([4]);
  });

  it('drops a connection that was lost mid-transaction instead of handing it out again', async () => {
    await expect(
      pipelinedTransaction(one, async (tx) => {
        const [pid] = (await tx.send([{ text: 'select pg_backend_pid() as pid', values: [], read: (rows) => Number(rows[0].pid) }])).results;
        await db.raw('select pg_terminate_backend(?)', [pid]);
        await tx.commit([insert(1)]);
      }),
    ).rejects.toThrow();
    await pipelinedTransaction(one, (tx) => tx.commit([insert(5)]));
    expect(await ids()).toEqual([5]);
  });

  it('tells when each result arrived, so that a lock wait after a flushed statement shows', async () => {
    await db('pipe_rows').insert({ id: 1 });
    const holder = await db.transaction();
    await holder('pipe_rows').where({ id: 1 }).forUpdate();
    setTimeout(() => void holder.commit(), 300);
    const { completedAt } = await pipelinedTransaction(one, async (tx) => {
      const sent = await tx.send([{ ...select(1), flush: true }, statementOf(db('pipe_rows').where({ id: 1 }).forUpdate(), (rows) => rows)]);
      await tx.commit([insert(2)]);
      return sent;
    });
    expect(completedAt).toHaveLength(2);
    expect(Number(completedAt[1] - completedAt[0]) / 1e6).toBeGreaterThan(200);
  });

  describe('prepared statements', () => {
    const count: Statement<number> = { text: 'select count(*)::int + $1::int as n from pipe_rows where id > $2::int', values: [], read: (rows) => Number(rows[0].n), prepared: true };
    const counted = (plus: number, above: number): Statement<number> => ({ ...count, values: [plus, above] });
    /** A pool of one new connection (a session with nothing prepared yet), and what is prepared on it. */
    async function session<T>(fn: (own: Knex, prepared: () => Promise<string[]>) => Promise<T>): Promise<T> {
      const own = tdb.pool(1);
      try {
        return await fn(own, async () => (await own.raw<{ rows: Array<{ statement: string }> }>('select statement from pg_prepared_statements')).rows.map((r) => r.statement));
      } finally {
        await own.destroy();
      }
    }

    it('are parsed once per connection, also when one pipeline holds one twice, and bound with each use\'s values', async () => {
      await db('pipe_rows').insert([{ id: 1 }, { id: 2 }, { id: 3 }]);
      await session(async (own, prepared) => {
        // PostgreSQL refuses to parse a name it has: the second pipeline only works if it binds what the first parsed.
        const first = await pipelinedTransaction(own, async (tx) => (await tx.commit([counted(0, 0), counted(100, 1)])).results);
        const again = await pipelinedTransaction(own, async (tx) => (await tx.commit([insert(4), counted(10, 2)])).results);
        expect(first).toEqual([3, 102]);
        expect(again).toEqual([undefined, 12]);
        expect(await prepared()).toEqual([count.text]);
      });
    });

    it('after an error, are parsed again where PostgreSQL skipped them, and bound where it had parsed them', async () => {
      await session(async (own, prepared) => {
        // The failing insert comes first: PostgreSQL skips everything after it, the Parse included.
        await expect(pipelinedTransaction(own, (tx) => tx.commit([insert(1), insert(1), counted(0, 0)]))).rejects.toThrow(/pipe_rows_pkey/);
        expect(await prepared()).toEqual([]);
        expect(await pipelinedTransaction(own, async (tx) => (await tx.commit([counted(0, 0)])).results)).toEqual([0]);
      });
      await session(async (own, prepared) => {
        // Parsed before the failing insert: prepared, and only bound next time.
        await expect(pipelinedTransaction(own, (tx) => tx.commit([counted(0, 0), insert(2), insert(2)]))).rejects.toThrow(/pipe_rows_pkey/);
        expect(await prepared()).toEqual([count.text]);
        expect(await pipelinedTransaction(own, async (tx) => (await tx.commit([insert(6), counted(1, 0)])).results)).toEqual([undefined, 2]);
      });
    });

    describe('with genericPlans', () => {
      // What the decisions' reads look like: rows by keys given as arrays (unnest), whose number a plan made
      // without the values does not know.
      const byIds: Statement<number[]> = {
        text: 'select p.id from unnest($1::int[]) as k(id) join pipe_rows p on p.id = k.id order by p.id',
        values: [],
        read: (rows) => rows.map((r) => Number(r.id)),
        prepared: true,
      };
      const lookUp = (ids: number[]): Statement<number[]> => ({ ...byIds, values: [ids] });
      const setting: Statement<string> = { text: "select current_setting('plan_cache_mode') as mode", values: [], read: (rows) => String(rows[0].mode) };
      const plans = async (own: Knex) =>
        (await own.raw<{ rows: Array<{ generic_plans: string; custom_plans: string }> }>('select generic_plans, custom_plans from pg_prepared_statements where statement = ?', [byIds.text])).rows.map((r) => ({
          generic: Number(r.generic_plans),
          custom: Number(r.custom_plans),
        }))[0];

      it('are planned once per connection; by default PostgreSQL plans such a statement again on every call', async () => {
        // A table with statistics, as autovacuum keeps them: a plan for an unknown number of keys then looks dearer
        // than one for two, and PostgreSQL's default keeps making custom plans.
        await db.raw('insert into pipe_rows (id) select generate_series(1, 2000)');
        await db.raw('analyze pipe_rows');
        await session(async (own) => {
          for (let i = 0; i < 8; i++) expect(await pipelined(own, [lookUp([1, 3])])).toEqual([[1, 3]]);
          expect(await plans(own)).toEqual({ generic: 0, custom: 8 });
        });
        await session(async (own) => {
          for (let i = 0; i < 8; i++) expect(await pipelined(own, [lookUp([1, 3])], { genericPlans: true })).toEqual([[1, 3]]);
          for (let i = 0; i < 4; i++) expect(await pipelinedTransaction(own, async (tx) => (await tx.commit([lookUp([2])])).results, { genericPlans: true })).toEqual([[2]]);
          expect(await plans(own)).toEqual({ generic: 12, custom: 0 });
        });
      });

      it('are planned again once parsed longer ago than replanAfterMs: a plan made on an empty table ends', async () => {
        // A table analysed while empty, then filled, and not analysed again (autovacuum's first ANALYZE has not come).
        await db.raw('create table plan_rows (id int primary key, k int not null) with (autovacuum_enabled = false)');
        await db.raw('create index plan_rows_k on plan_rows (k)');
        await db.raw('analyze plan_rows');
        const byK: Statement<number> = { text: 'select count(*)::int as n from plan_rows where k = $1::int', values: [], read: (rows) => Number(rows[0].n), prepared: true };
        const ofK = (k: number): Statement<number> => ({ ...byK, values: [k] });
        const prepared = async (own: Knex) =>
          (await own.raw<{ rows: Array<{ name: string; at: Date }> }>('select name, prepare_time as at from pg_prepared_statements where statement = ?', [byK.text])).rows;
        /** The plan the connection holds for the statement (its generic plan, as the pipeline runs it). */
        const plan = (own: Knex) =>
          own.transaction(async (trx) => {
            const [{ name }] = await prepared(trx);
            await trx.raw('set local plan_cache_mode = force_generic_plan');
            const rows = (await trx.raw<{ rows: Array<{ 'QUERY PLAN': string }> }>(`explain execute ${name}(1)`)).rows;
            return rows.map((r) => r['QUERY PLAN']).join('\n');
          });
        try {
          await session(async (own) => {
            expect(await pipelined(own, [ofK(1)], { genericPlans: true })).toEqual([0]);
            await db.raw('insert into plan_rows select i, i % 1000 from generate_series(1, 40000) as i');
            // Within the default minute: the plan made for an empty table, every row read.
            expect(await pipelined(own, [ofK(1)], { genericPlans: true })).toEqual([40]);
            expect(await plan(own)).toMatch(/Seq Scan on plan_rows/);
            const [first] = await prepared(own);
            expect(await pipelined(own, [ofK(1)], { genericPlans: true, replanAfterMs: 0 })).toEqual([40]);
            // Closed and parsed again under its name (one statement, made later), and planned for 40,000 rows.
            const [second, ...more] = await prepared(own);
            expect(more).toEqual([]);
            expect(second.name).toBe(first.name);
            expect(second.at.getTime()).toBeGreaterThan(first.at.getTime());
            expect(await plan(own)).toMatch(/Index (Only )?Scan|Bitmap Index Scan/);
            // Kept while younger than replanAfterMs, parsed again once older.
            expect(await pipelined(own, [ofK(2)], { genericPlans: true, replanAfterMs: 60_000 })).toEqual([40]);
            expect((await prepared(own))[0].at).toEqual(second.at);
            await new Promise((resolve) => setTimeout(resolve, 60));
            expect(await pipelined(own, [ofK(2)], { genericPlans: true, replanAfterMs: 50 })).toEqual([40]);
            expect((await prepared(own))[0].at.getTime()).toBeGreaterThan(second.at.getTime());
          });
        } finally {
          await db.raw('drop table plan_rows');
        }
      });

      it('hold only for the pipeline\'s own transaction: the pooled connection keeps the default, also after an error', async () => {
        expect(await pipelined(one, [setting], { genericPlans: true })).toEqual(['force_generic_plan']);
        expect(await pipelinedTransaction(one, async (tx) => (await tx.commit([setting])).results, { genericPlans: true })).toEqual(['force_generic_plan']);
        expect(await pipelined(one, [setting])).toEqual(['auto']);
        await expect(pipelined(one, [insert(1), insert(1)], { genericPlans: true })).rejects.toThrow(/pipe_rows_pkey/);
        expect(await ids()).toEqual([]);
        expect(await pipelined(one, [setting, insert(2)])).toEqual(['auto', undefined]);
        expect(await ids()).toEqual([2]);
      });
    });
  });
});
