import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { createKnex } from '../db/knex';
import { ConflictError, DatabaseUnavailableError, isDatabaseUnavailable } from './errors';
import { errorHandler } from './http';
import { errorForLog, knexLog, LOG_REPEAT_WINDOW_MS } from './logger';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(chunk.toString()); done(); } });
  return { logger: pino({ level: 'debug', serializers: { err: errorForLog } }, sink), lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

/** An app whose one route fails with `err`, in front of the real error middleware. */
function failingWith(err: unknown, logger = pino({ level: 'silent' })) {
  return express()
    .post('/api/x', (_req, _res, next) => next(err))
    .get('/page', (_req, _res, next) => next(err))
    .use(errorHandler(logger));
}

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });

describe('the database being unavailable', () => {
  it.each([
    ['57P01 admin_shutdown', pgError('57P01', 'terminating connection due to administrator command')],
    ['57P03 cannot_connect_now', pgError('57P03', 'the database system is starting up')],
    ['08006 connection_failure', pgError('08006', 'connection failure')],
    ['53300 too_many_connections', pgError('53300', 'sorry, too many clients already')],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a connection cut under a query (knex puts the SQL first)', new Error('select * from "workflows" - Connection terminated unexpectedly')],
    ['the pool timing out', Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' })],
    ['an AggregateError of refused addresses', Object.assign(new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })]), { message: '' })],
    ['a cause', new Error('commit failed', { cause: pgError('57P01', 'terminating connection') })],
  ])('%s → 503 with Retry-After, in JSON and in the error view', async (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
    const app = failingWith(err);
    const res = await request(app).post('/api/x');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body.error.message).toMatch(/database is unavailable for a moment/);
  });

  it.each([
    ['a syntax error', pgError('42601', 'syntax error at or near "selec"')],
    ['a unique violation', pgError('23505', 'duplicate key value violates unique constraint')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'id')")],
  ])('%s stays a 500 with its detail hidden', async (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
    const res = await request(failingWith(err)).post('/api/x');
    expect(res.status).toBe(500);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body.error.message).toMatch(/Something went wrong on our side/);
  });

  it('a typed error keeps its status and message, and gets no Retry-After', async () => {
    const res = await request(failingWith(new ConflictError('The page changed — reload.'))).post('/api/x');
    expect([res.status, res.body.error.message, res.headers['retry-after']]).toEqual([409, 'The page changed — reload.', undefined]);
  });

  it('a real refused connection (nothing listens on port 1) answers 503, not 500', async () => {
    const db = createKnex('postgres://attest:x@127.0.0.1:1/nothing', { poolMax: 1, logger: pino({ level: 'silent' }) });
    try {
      const app = express()
        .get('/api/x', (_req, res, next) => void db.raw('select 1').then(() => res.json({}), next))
        .use(errorHandler(pino({ level: 'silent' })));
      const res = await request(app).get('/api/x');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
    } finally {
      await db.destroy();
    }
  });

  it("ACE's tenant lookup failing on an unavailable database is a 503; its other 500s log their message, not [object Object]", async () => {
    const lookup = `Could not lookup stored client data for ck: ${String(new DatabaseUnavailableError(new Error('x')))}`;
    const res = await request(failingWith({ code: 500, message: lookup })).post('/api/x');
    expect([res.status, res.headers['retry-after']]).toEqual([503, '5']);

    const log = capture();
    const other = await request(failingWith({ code: 500, message: 'Could not lookup stored client data for ck: boom' }, log.logger)).post('/api/x');
    expect(other.status).toBe(500);
    const line = log.json().find((l) => l.msg === 'request failed')!;
    expect(line.err).toMatchObject({ type: 'ConnectError', code: 500, message: expect.stringContaining('boom') });
    expect(log.lines.join('')).not.toContain('[object Object]');
  });

  it('logs the error with its code and cause as one JSON line, JWTs scrubbed', async () => {
    const log = capture();
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl';
    const err = new Error(`commit failed for ${jwt}`, { cause: pgError('57P01', 'terminating connection due to administrator command') });
    await request(failingWith(err, log.logger)).post('/api/x');
    const line = log.json().find((l) => l.err)!;
    expect(line.level).toBe(40);
    expect(line.err).toMatchObject({ type: 'Error', cause: { type: 'Error', code: '57P01', message: 'terminating connection due to administrator command' } });
    expect(log.lines.join('')).not.toContain(jwt);
  });
});

describe("knex's own log", () => {
  it('is JSON, one line per message with its stack as a field, and repeats are counted, not written', () => {
    const log = capture();
    let now = 0;
    const k = knexLog(log.logger, () => now);
    const msg = 'Acquire connection error: Error: connect ECONNREFUSED 127.0.0.1:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)';
    for (let i = 0; i < 1000; i++) k.warn(msg);
    now += LOG_REPEAT_WINDOW_MS;
    k.warn(msg);
    k.deprecate('something is deprecated, please use other');
    const lines = log.json();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ level: 40, component: 'knex', msg: 'Acquire connection error: Error: connect ECONNREFUSED 127.0.0.1:5432', detail: expect.stringContaining('afterConnect') });
    expect(lines[1]).toMatchObject({ msg: lines[0].msg, repeated: 999 });
    expect(lines[2]).toMatchObject({ level: 40, msg: 'something is deprecated, please use other' });
  });
});
