import express from 'express';
import request from 'supertest';
import { createKnex } from '../db/knex';
import { adminClient, createTestDatabase, TestDatabase, urlFor } from '../../test/helpers/database';
import { requestLogger } from '../lib/http';
import { createOpsRouter } from './ops-router';
import { Writable } from 'node:stream';
import pino from 'pino';

describe('/healthz and /readyz', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(() => tdb.drop());

  const appOn = (db: Parameters<typeof createOpsRouter>[0]['db']) => express().use(createOpsRouter({ db }));

  it('answers ready on a migrated database', async () => {
    const app = appOn(tdb.db);
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'ok' });
    const res = await request(app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready' });
  });

  it('answers 503 counting the pending migrations on a database that is behind (not naming them: anyone may ask)', async () => {
    const name = `attest_t_empty_${process.pid}`;
    const admin = await adminClient();
    await admin.query(`drop database if exists ${name}`);
    await admin.query(`create database ${name}`);
    await admin.end();
    const empty = createKnex(urlFor(name), { poolMax: 1 });
    try {
      const res = await request(appOn(empty)).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.body.reason).toBe('migrations pending');
      expect(res.body.pending).toBeGreaterThan(10);
      expect(JSON.stringify(res.body)).not.toContain('.ts');
    } finally {
      await empty.destroy();
      const a = await adminClient();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    }
  });

  it('answers 503 when the database cannot be reached, while /healthz still answers', async () => {
    const gone = createKnex('postgres://attest:wrong@127.0.0.1:1/nothing', { poolMax: 1 });
    try {
      const app = appOn(gone);
      const res = await request(app).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'unavailable', reason: 'database unreachable' });
      expect((await request(app).get('/healthz')).status).toBe(200);
    } finally {
      await gone.destroy();
    }
  });

  it('answers 503 in bounded time while no connection can be had, and 200 again once one can (no restart)', async () => {
    const one = createKnex(tdb.url, { poolMax: 1 });
    try {
      const app = express().use(createOpsRouter({ db: one, readyTimeoutMs: 500 }));
      expect((await request(app).get('/readyz')).status).toBe(200);
      const trx = await one.transaction();
      const t0 = Date.now();
      const held = await request(app).get('/readyz');
      expect(held.status).toBe(503);
      expect(held.body).toEqual({ status: 'unavailable', reason: 'database did not answer in time' });
      expect(Date.now() - t0).toBeLessThan(2_000);
      await trx.commit();
      const back = await request(app).get('/readyz');
      expect([back.status, back.body]).toEqual([200, { status: 'ready' }]);
    } finally {
      await one.destroy();
    }
  });

  it('runs one check for the probes that come while it runs, however many (a timed-out check included)', async () => {
    const one = createKnex(tdb.url, { poolMax: 1 });
    let statements = 0;
    one.on('query', () => void statements++);
    try {
      const app = express().use(createOpsRouter({ db: one, readyTimeoutMs: 300 }));
      expect((await request(app).get('/readyz')).status).toBe(200);
      const perCheck = statements;
      statements = 0;
      // The pool's one connection is held: the first probe's check waits for it, the others join that check.
      const trx = await one.transaction();
      const probes = await Promise.all(Array.from({ length: 25 }, () => request(app).get('/readyz')));
      expect(probes.map((r) => r.status)).toEqual(Array(25).fill(503));
      await trx.commit();
      const back = await request(app).get('/readyz');
      expect(back.status).toBe(200);
      expect(statements).toBeLessThanOrEqual(2 * perCheck);
    } finally {
      await one.destroy();
    }
  });

  it('logs each request with its id, echoes a given X-Request-Id, and keeps JWTs out of the log', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(chunk.toString()); done(); } });
    const app = express().use(requestLogger(pino({ level: 'info' }, sink))).use(createOpsRouter({ db: tdb.db }));
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl';
    const given = await request(app).get(`/nothing?jwt=${jwt}`).set('X-Request-Id', 'req-123');
    expect(given.headers['x-request-id']).toBe('req-123');
    const made = await request(app).get('/healthz?x=1');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const log = lines.join('');
    expect(log).toContain('"id":"req-123"');
    expect(log).not.toContain(jwt);
    expect(log).not.toContain('eyJ');
  });
});
