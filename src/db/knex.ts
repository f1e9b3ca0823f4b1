import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { types } from 'pg';

// A SQL date is a calendar day, not an instant: keep it as 'YYYY-MM-DD' instead of a local-midnight Date.
types.setTypeParser(1082, (v: string) => v);
// bigint counts and sequences fit in a JS number for any realistic size.
types.setTypeParser(20, (v: string) => Number(v));

export type { Knex };

export const MIGRATIONS_DIR = path.resolve(__dirname, '../../migrations');

export const migrationConfig: Knex.MigratorConfig = {
  directory: MIGRATIONS_DIR,
  loadExtensions: ['.ts'],
  tableName: 'knex_migrations',
};

export interface PoolOptions {
  poolMax?: number;
  /**
   * `idle_in_transaction_session_timeout` of every connection of the pool: PostgreSQL ends a session left
   * idle inside a transaction longer, releasing its snapshot and locks. Unset on the main pool, whose
   * scheduler holds a job's advisory lock in a transaction for as long as the job runs.
   */
  idleInTransactionMs?: number;
}

export function createKnex(databaseUrl: string, opts: PoolOptions = {}): Knex {
  const idleMs = opts.idleInTransactionMs;
  type Conn = { query(sql: string, cb: (err: Error | null) => void): void };
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    pool: {
      min: 0,
      max: opts.poolMax ?? 10,
      ...(idleMs !== undefined
        ? {
            afterCreate: (conn: Conn, done: (err: Error | null, conn: Conn) => void) => {
              conn.query(`set idle_in_transaction_session_timeout = ${Math.floor(idleMs)}`, (err) => done(err, conn));
            },
          }
        : {}),
    },
    migrations: migrationConfig,
  });
}

/** A separate pool on the same database as `db` (work that must not take the connections requests need). */
export function createSidePool(db: Knex, opts: PoolOptions): Knex {
  return createKnex(db.client.config.connection as string, opts);
}

export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = await db.migrate.latest(migrationConfig);
  return applied as string[];
}

/** Pending migrations (empty when the schema is current). */
export async function pendingMigrations(db: Knex): Promise<string[]> {
  const [, pending] = await db.migrate.list(migrationConfig);
  return (pending as Array<{ file: string } | string>).map((p) => (typeof p === 'string' ? p : p.file));
}
