import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../lib/logger';
import { startEmbeddedPostgres } from './embedded-postgres';
import { createKnex, Knex } from './knex';
import { Client } from 'pg';

export interface Database {
  db: Knex;
  url: string;
  /** Closes the pool, then stops the embedded server if this process started one. */
  close(): Promise<void>;
}

const EMBEDDED_DB = 'attest';

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/** `DATABASE_URL` when given; otherwise an embedded PostgreSQL kept in `DATA_DIR/postgres`. */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  logger: Logger,
  /** `share`: use the embedded server a running Attest already started (the CLI beside `npm start`). */
  opts: { poolMax?: number; share?: boolean } = {},
): Promise<Database> {
  if (config.databaseUrl) {
    const db = createKnex(config.databaseUrl, { ...opts, logger });
    return { db, url: config.databaseUrl, close: () => db.destroy() };
  }
  const server = await startEmbeddedPostgres(path.join(config.dataDir, 'postgres'), logger, { share: opts.share });
  try {
    await ensureDatabase(server.url(), EMBEDDED_DB);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const url = server.url(EMBEDDED_DB);
  const db = createKnex(url, { ...opts, logger });
  return {
    db,
    url,
    async close() {
      await db.destroy();
      await server.stop();
    },
  };
}
