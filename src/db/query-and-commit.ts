import type { Knex } from 'knex';
import { Query } from 'pg';

/**
 * pg's extended-protocol query, followed in the same network write by `COMMIT` and `BEGIN`, then one Sync.
 * node-postgres sends one query per round trip; here the statement and the commit share one, so whatever
 * the statement locks is released as soon as the commit is flushed, without waiting for Node to read the
 * statement's result and answer with a COMMIT.
 *
 * The trailing `BEGIN` opens an empty transaction for knex, which still sends its own `COMMIT` when the
 * transaction's callback returns (committing nothing: no WAL, no flush), or `ROLLBACK` when it throws.
 * An error anywhere makes PostgreSQL skip the rest up to the Sync: the transaction is then aborted, nothing
 * was committed, and the error reaches the caller (knex rolls back).
 */
class QueryThenCommit extends Query {
  // Overrides pg's (untyped) last step of `prepare`, which executes the portal and syncs.
  _getRows(connection: PgWire): void {
    connection.execute({ portal: '', rows: 0 });
    for (const text of ['COMMIT', 'BEGIN']) {
      connection.parse({ text, name: '', types: [] });
      connection.bind({ portal: '', statement: '', values: [] });
      connection.execute({ portal: '', rows: 0 });
    }
    connection.sync();
  }
}

interface PgWire {
  parse(msg: { text: string; name: string; types: unknown[] }): void;
  bind(msg: { portal: string; statement: string; values: unknown[] }): void;
  execute(msg: { portal: string; rows: number }): void;
  sync(): void;
}

interface PgClient {
  query(q: Query): unknown;
}

/**
 * Runs one parameterised statement and commits `trx` in a single round trip; returns the statement's rows.
 * Only for a top-level transaction: after it, `trx` is an empty transaction that knex ends as usual.
 */
export async function queryAndCommit<R>(trx: Knex.Transaction, sql: string, values: unknown[]): Promise<R[]> {
  if (!trx.isTransaction || (trx as unknown as { parentTransaction?: unknown }).parentTransaction) {
    throw new Error('queryAndCommit needs a top-level transaction');
  }
  // A transaction's client hands out the transaction's own connection.
  const client = (await trx.client.acquireConnection()) as PgClient;
  const results = await new Promise<Array<{ rows: R[] }>>((resolve, reject) => {
    client.query(new QueryThenCommit({ text: sql, values, queryMode: 'extended' } as never, (err: Error | undefined, res: unknown) => (err ? reject(err) : resolve(res as Array<{ rows: R[] }>))));
  });
  return results[0].rows;
}
