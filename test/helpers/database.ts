import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createKnex, Knex } from '../../src/db/knex';

export const TEMPLATE_DB = 'attest_test_template';

export function adminUrl(): string {
  const url = process.env.ATTEST_TEST_ADMIN_URL;
  if (!url) throw new Error('ATTEST_TEST_ADMIN_URL is not set: run tests through jest (globalSetup)');
  return url;
}

export async function adminClient(): Promise<Client> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  return client;
}

export function urlFor(database: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  db: Knex;
  /** Another pool on the same database (concurrency tests). */
  pool(max?: number): Knex;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template; each test file makes its own. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `attest_t_${randomBytes(6).toString('hex')}`;
  const admin = await adminClient();
  try {
    await admin.query(`create database ${name} template ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const url = urlFor(name);
  const pools: Knex[] = [];
  const pool = (max = 10) => {
    const k = createKnex(url, { poolMax: max });
    pools.push(k);
    return k;
  };
  const db = pool();
  return {
    name,
    url,
    db,
    pool,
    async drop() {
      await Promise.all(pools.map((p) => p.destroy()));
      const a = await adminClient();
      try {
        await a.query(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
