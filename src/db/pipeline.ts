import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { Query } from 'pg';
import { prepareValue } from 'pg/lib/utils';

/**
 * One parameterised statement for `pipeline`, with what to make of its rows. `flush`: PostgreSQL sends the
 * results so far as soon as it has run this statement (a Flush message), so that the time the next one takes
 * (a lock wait, say) shows in `Pipelined.completedAt`.
 */
export interface Statement<T> {
  text: string;
  values: readonly unknown[];
  read(rows: Array<Record<string, unknown>>): T;
  flush?: boolean;
  /**
   * Kept as a prepared statement on each connection once parsed there, so PostgreSQL parses it once and can keep
   * its plan (issue 15: planning was a fifth of the decision path's time in PostgreSQL). Only for a text of
   * constant form whose result columns no schema change can alter (no `*`, no `RETURNING w.*`): PostgreSQL refuses
   * to run a prepared statement whose result type has changed.
   */
  prepared?: boolean;
}

/** When each prepared statement was parsed on a connection (performance.now()). */
const parseTimes = new WeakMap<object, Map<string, number>>();

function parsedAt(connection: object): Map<string, number> {
  let times = parseTimes.get(connection);
  if (!times) parseTimes.set(connection, (times = new Map()));
  return times;
}

/** `text` is prepared as `name` on the connection, parsed less than `maxAgeMs` ago. */
function isFresh(connection: PgWire, name: string, text: string, maxAgeMs: number): boolean {
  if (connection.parsedStatements[name] !== text) return false;
  const at = parsedAt(connection).get(name);
  return at !== undefined && performance.now() - at < maxAgeMs;
}

/** Each prepared text's name: the same on every connection, from the text itself. */
const preparedNames = new Map<string, string>();

function preparedName(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) preparedNames.set(text, (name = `attest_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`));
  return name;
}

/** A knex query (builder or raw) as a statement: its SQL with `$n` placeholders and its bindings, as knex would send them. */
export function statementOf<T>(query: Knex.QueryBuilder | Knex.Raw, read: (rows: Array<Record<string, unknown>>) => T): Statement<T> {
  const { sql, bindings } = query.toSQL().toNative();
  return { text: sql, values: bindings, read };
}

/**
 * A multi-row `VALUES` list of positional parameters for a statement written by hand, numbered from `$first`
 * (`($2, $3), ($4, $5)`), with the rows' values in that order; `lead` goes first in every row (a parameter the rows
 * share, say `$1`). Values are only ever parameters, never SQL text.
 */
export function valuesList(rows: ReadonlyArray<readonly unknown[]>, first: number, lead = ''): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const parts: string[] = [];
  let n = first;
  for (const row of rows) {
    const params = lead ? [lead] : [];
    for (const v of row) {
      params.push(`$${n++}`);
      values.push(v);
    }
    parts.push(`(${params.join(', ')})`);
  }
  return { sql: parts.join(', '), values };
}

type Results<S extends readonly Statement<unknown>[]> = { -readonly [K in keyof S]: S[K] extends Statement<infer R> ? R : never };

interface PgWire {
  /** node-postgres's record of the statements prepared on this connection (name → text). */
  parsedStatements: Record<string, string>;
  close(msg: { type: 'S'; name: string }): void;
  on(event: 'parseComplete', listener: () => void): void;
  off(event: 'parseComplete', listener: () => void): void;
  parse(msg: { text: string; name: string; types: unknown[] }): void;
  bind(msg: { portal: string; statement: string; values: readonly unknown[]; valueMapper?: (v: unknown) => unknown }): void;
  describe(msg: { type: 'P'; name: string }): void;
  execute(msg: { portal: string; rows: number }): void;
  flush(): void;
  sync(): void;
}

interface PgResult {
  rows: Array<Record<string, unknown>>;
}

/**
 * Several statements in one network write, then one Sync: PostgreSQL runs them one after the other (each
 * with its own snapshot, as if sent one by one) and node-postgres reads every result in one round trip.
 * An error in one makes PostgreSQL skip the rest up to the Sync (the transaction is then aborted) and fails
 * the whole call. `commit`: `COMMIT` follows the statements in the same write.
 */
class PipelinedQuery extends Query {
  readonly completedAt: bigint[] = [];
  private stopWatching: () => void = () => undefined;

  constructor(
    private readonly statements: readonly Statement<unknown>[],
    private readonly commit: boolean,
    private readonly replanAfterMs: number,
    callback: (err: Error | undefined, res: unknown) => void,
  ) {
    super({ text: statements[0].text, values: [], queryMode: 'extended', callback } as never);
  }

  // pg's Query.prepare sends one statement's Parse/Bind/Describe/Execute and a Sync; this sends them all. A
  // prepared statement already parsed on the connection is only bound; one parsed now is recorded as prepared when
  // PostgreSQL says it parsed it (ParseComplete, in the order sent), so one after an error is parsed again next time.
  // One parsed longer than `replanAfterMs` ago is closed and parsed again, and so planned again (see `replanAfterMs`).
  prepare(connection: PgWire): void {
    const parses: Array<{ name: string; text: string } | null> = [];
    const parsing = new Set<string>();
    for (const s of this.statements) {
      const name = s.prepared ? preparedName(s.text) : '';
      if (!name || (!isFresh(connection, name, s.text, this.replanAfterMs) && !parsing.has(name))) {
        if (name) {
          // PostgreSQL refuses to parse a name it has: one parsed too long ago is closed first. Not an error for a
          // name it does not have, so sent before every named Parse, and no record beyond pg's is needed.
          delete connection.parsedStatements[name];
          connection.close({ type: 'S', name });
          parsing.add(name);
        }
        connection.parse({ text: s.text, name, types: [] });
        parses.push(name ? { name, text: s.text } : null);
      }
      connection.bind({ portal: '', statement: name, values: s.values, valueMapper: prepareValue });
      connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: 0 });
      if (s.flush) connection.flush();
    }
    if (this.commit) {
      connection.parse({ text: 'COMMIT', name: '', types: [] });
      connection.bind({ portal: '', statement: '', values: [] });
      connection.execute({ portal: '', rows: 0 });
    }
    connection.sync();
    if (!parses.some((p) => p)) return;
    let next = 0;
    const parsed = () => {
      const p = parses[next++];
      if (p) {
        connection.parsedStatements[p.name] = p.text;
        parsedAt(connection).set(p.name, performance.now());
      }
    };
    connection.on('parseComplete', parsed);
    this.stopWatching = () => connection.off('parseComplete', parsed);
  }

  handleReadyForQuery(connection: unknown): void {
    this.stopWatching();
    (Query.prototype as unknown as { handleReadyForQuery(c: unknown): void }).handleReadyForQuery.call(this, connection);
  }

  handleError(err: Error, connection: unknown): void {
    this.stopWatching();
    (Query.prototype as unknown as { handleError(e: Error, c: unknown): void }).handleError.call(this, err, connection);
  }

  handleCommandComplete(msg: unknown, connection: unknown): void {
    this.completedAt.push(process.hrtime.bigint());
    (Query.prototype as unknown as { handleCommandComplete(m: unknown, c: unknown): void }).handleCommandComplete.call(this, msg, connection);
  }
}

export interface Pipelined<S extends readonly Statement<unknown>[]> {
  results: Results<S>;
  /** When each statement's result arrived (process.hrtime.bigint()). */
  completedAt: bigint[];
}

interface PgClient {
  query(q: Query): unknown;
  query(text: string): Promise<unknown>;
  __knex__disposed?: unknown;
}

/**
 * Tells `db`'s 'query' listeners of each statement about to be sent, as knex tells them of its own (benches and
 * tests count statements there; none of the app's code listens).
 */
function announce(db: Knex, statements: readonly Statement<unknown>[], commit: boolean): void {
  for (const s of statements) db.emit('query', { sql: s.text, bindings: s.values, method: 'pipelined' });
  if (commit) db.emit('query', { sql: 'COMMIT', bindings: [], method: 'pipelined' });
}

/** `statements` (then `COMMIT`) in one round trip on `client`. */
async function send<const S extends readonly Statement<unknown>[]>(client: PgClient, statements: S, commit: boolean, opts: PipelineOptions): Promise<Pipelined<S>> {
  let query!: PipelinedQuery;
  const raw = await new Promise<PgResult | PgResult[]>((resolve, reject) => {
    query = new PipelinedQuery(statements, commit, opts.replanAfterMs ?? REPLAN_AFTER_MS, (err, res) => (err ? reject(err) : resolve(res as PgResult | PgResult[])));
    client.query(query);
  });
  const all = Array.isArray(raw) ? raw : [raw];
  const results = statements.map((s, i) => s.read(all[i].rows)) as Results<S>;
  return { results, completedAt: query.completedAt.slice(0, statements.length) };
}

/**
 * How a pipeline's statements are planned. `genericPlans`: each prepared statement is planned once per connection
 * (`SET LOCAL plan_cache_mode = force_generic_plan`, in a transaction of its own). PostgreSQL's default keeps
 * planning a statement again on every call as long as its generic plan looks dearer than a custom one, and a plan
 * without the values takes an array parameter for many rows: the decisions' workflow reads were planned on every
 * call, which cost more than running them (issue 15, bench/README.md). Only for statements whose plan is good for
 * any values (the one index lookup per key their text asks for).
 *
 * `replanAfterMs`: a prepared statement is parsed again (and so planned again) on a connection once it was parsed
 * there that long ago (default `REPLAN_AFTER_MS`). A plan is only remade by PostgreSQL itself when the statistics it
 * rests on change (`ANALYZE`), and a table that grew from empty keeps the plan made for an empty table until
 * autovacuum's first `ANALYZE` of it: the decisions' read under the locks took 415–440 ms instead of 25–34 (40,000
 * decisions, docs/scaling.md). Planned again, it is planned for the table's size on disk.
 */
export interface PipelineOptions {
  genericPlans?: boolean;
  replanAfterMs?: number;
}

/** How long a prepared statement's plan is kept on a connection: autovacuum's default `autovacuum_naptime`. */
export const REPLAN_AFTER_MS = 60_000;

/**
 * `statements` in one round trip on a connection of `db`'s pool, outside any transaction (each in its own); with
 * `genericPlans`, together in one transaction, committed in the same round trip.
 */
export async function pipelined<const S extends readonly Statement<unknown>[]>(db: Knex, statements: S, opts: PipelineOptions = {}): Promise<Results<S>> {
  if (opts.genericPlans) return pipelinedTransaction(db, async (tx) => (await tx.commit(statements)).results, opts);
  const client = (await db.client.acquireConnection()) as PgClient;
  try {
    announce(db, statements, false);
    return (await send(client, statements, false, opts)).results;
  } finally {
    await db.client.releaseConnection(client);
  }
}

/** A transaction whose every round trip is a pipeline: `BEGIN` goes with the first, `COMMIT` with the last. */
export interface PipelinedTx {
  send<const S extends readonly Statement<unknown>[]>(statements: S): Promise<Pipelined<S>>;
  /** The last round trip: `statements`, then `COMMIT`. Resolves once PostgreSQL acknowledged the commit. */
  commit<const S extends readonly Statement<unknown>[]>(statements: S): Promise<Pipelined<S>>;
}

/**
 * Runs `work` in a transaction on a connection of `db`'s pool, without a round trip of its own for `BEGIN`
 * (knex's transactions send it alone). Work that returns without `commit` is rolled back, and so is work that
 * throws; a connection whose state is then unknown (the rollback failed, or the commit was sent and not
 * answered) is closed instead of going back to the pool.
 */
export async function pipelinedTransaction<T>(db: Knex, work: (tx: PipelinedTx) => Promise<T>, opts: PipelineOptions = {}): Promise<T> {
  const client = (await db.client.acquireConnection()) as PgClient;
  const state = { begun: false, ended: false };
  const sendOn = async <const S extends readonly Statement<unknown>[]>(statements: S, commit: boolean): Promise<Pipelined<S>> => {
    if (state.ended) throw new Error('this transaction has ended');
    if (!statements.length) throw new Error('pipeline needs at least one statement');
    const begin = state.begun ? [] : opts.genericPlans ? [BEGIN, GENERIC_PLANS] : [BEGIN];
    state.begun = true;
    if (commit) state.ended = true;
    announce(db, [...begin, ...statements], commit);
    const out = await send(client, [...begin, ...statements] as const, commit, opts);
    return { results: out.results.slice(begin.length) as Results<S>, completedAt: out.completedAt.slice(begin.length) };
  };
  try {
    const result = await work({ send: (statements) => sendOn(statements, false), commit: (statements) => sendOn(statements, true) });
    if (state.begun && !state.ended) await client.query('ROLLBACK');
    return result;
  } catch (err) {
    if (state.begun) {
      // After an error PostgreSQL has aborted the transaction (or the commit's outcome is unknown): end it either way.
      await client.query('ROLLBACK').catch((e: unknown) => (client.__knex__disposed = e ?? err));
    }
    throw err;
  } finally {
    await db.client.releaseConnection(client);
  }
}

const BEGIN: Statement<void> = { text: 'BEGIN', values: [], read: () => undefined };
const GENERIC_PLANS: Statement<void> = { text: 'SET LOCAL plan_cache_mode = force_generic_plan', values: [], read: () => undefined };
