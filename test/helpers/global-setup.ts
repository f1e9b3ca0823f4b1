import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { createKnex, migrateLatest } from '../../src/db/knex';
import { silentLogger } from '../../src/lib/logger';
import { TEMPLATE_DB, adminClient } from './database';

/**
 * One PostgreSQL for the whole run: TEST_DATABASE_URL when given (it must allow CREATE DATABASE),
 * otherwise an embedded server in a temporary directory. A migrated template database is made once;
 * every test file clones it into a fresh database of its own.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-test-pg-'));
    fs.chmodSync(dir, 0o755);
    const server = await startEmbeddedPostgres(dir, silentLogger());
    adminUrl = server.url('postgres');
    (globalThis as { __ATTEST_PG__?: unknown }).__ATTEST_PG__ = { server, dir };
  }
  process.env.ATTEST_TEST_ADMIN_URL = adminUrl;
  const admin = await adminClient();
  try {
    await admin.query(`drop database if exists ${TEMPLATE_DB}`);
    await admin.query(`create database ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const db = createKnex(withDatabase(adminUrl, TEMPLATE_DB), { poolMax: 2 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
