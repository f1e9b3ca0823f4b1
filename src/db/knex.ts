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

export function createKnex(databaseUrl: string, opts: { poolMax?: number } = {}): Knex {
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    pool: { min: 0, max: opts.poolMax ?? 10 },
    migrations: migrationConfig,
  });
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
