import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { EmbeddedServer, startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { createKnex, Knex, migrateLatest } from '../src/db/knex';
import { silentLogger } from '../src/lib/logger';

export interface BenchDatabase {
  url: string;
  db: Knex;
  dir: string;
  /** The embedded server's cluster (startEmbeddedPostgres keeps it in `<its dir>/pg`); empty on DATABASE_URL's server. */
  pgData: string;
  close(): Promise<void>;
}

/** A migrated database of its own: on DATABASE_URL's server when set, else on an embedded PostgreSQL. */
export async function benchDatabase(label: string, opts: { poolMax?: number } = {}): Promise<BenchDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `attest-${label}-`));
  fs.chmodSync(dir, 0o755);
  let pg: EmbeddedServer | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    pg = await startEmbeddedPostgres(path.join(dir, 'pg'), silentLogger());
    adminUrl = pg.url('postgres');
  }
  const name = `attest_${label.replace(/\W/g, '_')}_${process.pid}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${name}`);
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const db = createKnex(url, { poolMax: opts.poolMax ?? 4 });
  await migrateLatest(db);
  return {
    url,
    db,
    dir,
    pgData: path.join(dir, 'pg', 'pg'),
    async close() {
      await db.destroy();
      const a = new Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
      await pg?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
