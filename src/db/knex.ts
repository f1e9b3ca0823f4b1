import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { types } from 'pg';
import { createLogger, knexLog, Logger, scrubText } from '../lib/logger';

/**
 * How pg turns two column types into values, for every pool of the process (pg keeps them in a module global):
 * a SQL date is a calendar day, not an instant ('YYYY-MM-DD', not a local-midnight Date); bigint counts and
 * sequences fit in a JS number for any realistic size. The bootstrap registers them with the other process-wide
 * settings; every pool made here registers them too, so the CLI and tests that open a database get the same values.
 */
export function registerPgTypes(): void {
  types.setTypeParser(1082, (v: string) => v);
  types.setTypeParser(20, (v: string) => Number(v));
}

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
  /** Where knex's warnings and the connections' errors and notices go (JSON); a warn-level logger if none. */
  logger?: Logger;
}

/**
 * TCP keepalive on every connection of a pool, probing after this long idle: with Node 20's libuv (1.46) each probe
 * then goes every second, 10 of them (seen with strace: TCP_KEEPIDLE 10, TCP_KEEPINTVL 1, TCP_KEEPCNT 10), so a
 * database host gone without a reset (a failover, a partition) fails a connection waiting for its answer within
 * ~20 s instead of never; knex then drops it. A query written into the void is bounded by the kernel's
 * retransmissions instead (`net.ipv4.tcp_retries2`, ~15 min by default), which keepalive cannot shorten.
 */
export const KEEPALIVE_IDLE_MS = 10_000;

type PgConnection = {
  query(sql: string, cb: (err: Error | null) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  on(event: 'notice', fn: (notice: { severity?: string; code?: string; message?: string }) => void): void;
};

export function createKnex(databaseUrl: string, opts: PoolOptions = {}): Knex {
  registerPgTypes();
  const idleMs = opts.idleInTransactionMs;
  const base = opts.logger ?? createLogger({ level: 'warn' });
  const log = knexLog(base);
  const logger = base.child({ component: 'db' });
  return knexFactory({
    client: 'pg',
    // pg's own keepalive options (its Client sets them on the socket): see KEEPALIVE_IDLE_MS.
    connection: { connectionString: databaseUrl, keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS },
    log,
    pool: {
      min: 0,
      max: opts.poolMax ?? 10,
      afterCreate: (conn: PgConnection, done: (err: Error | null, conn: PgConnection) => void) => {
        // A connection the server ends (a restart) emits 'error' while idle; knex drops it from the pool.
        // Said once, as JSON, instead of nothing or an unhandled error.
        conn.on('error', (err) => log.warn(`connection lost: ${err.message}`));
        conn.on('notice', (n) => logger.info({ severity: n.severity, code: n.code }, `postgres notice: ${scrubText(String(n.message ?? ''))}`));
        if (idleMs === undefined) return done(null, conn);
        conn.query(`set idle_in_transaction_session_timeout = ${Math.floor(idleMs)}`, (err) => done(err, conn));
      },
    },
    migrations: migrationConfig,
  });
}

/** A separate pool on the same database as `db` (work that must not take the connections requests need). */
export function createSidePool(db: Knex, opts: PoolOptions): Knex {
  const c = db.client.config.connection as string | { connectionString: string };
  return createKnex(typeof c === 'string' ? c : c.connectionString, opts);
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
