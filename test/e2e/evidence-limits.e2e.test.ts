import net from 'node:net';
import request from 'supertest';
import { generateChain } from '../../bench/export-fixture';
import type { ExportLimits } from '../../src/evidence/export-limits';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * Evidence exports hold a snapshot for as long as their download runs. Clients that open exports and stop
 * reading must not starve anyone else: exports have their own small pool and per-user / per-tenant caps,
 * and a download on which nothing moves is ended and its connection released.
 */
// Short for a quick test, long enough that a busy machine is not mistaken for a client that stopped reading.
const STALL_MS = 3000;
const ATTACKER = 'attacker-site';
// 14 MB and more of CSV: several times what the socket buffers between server and client hold (about 4 MB).
const ROWS = 20_000;

interface Download {
  path: string;
  authorization: string;
  status: number;
  /** Resumes reading; resolves with the bytes received once the server has closed the socket. */
  drain(): Promise<number>;
}

const within = <T>(ms: number, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/** An app whose ATTACKER tenant has ROWS events. */
function stallHarness(limits: Partial<ExportLimits>) {
  const h = {} as { t: TestApp; d: NonNullable<TestApp['devhost']> };
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    h.t = await startTestApp({ exportLimits: { stallMs: STALL_MS, ...limits } });
    h.d = h.t.devhost!;
    await h.d.installTenant({ clientKey: ATTACKER });
    await generateChain(h.t.db, ATTACKER, ROWS);
  }, 120_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    // Let the exports notice and roll back before their pool closes.
    if (h.t) await sessionsBecome(0, 5000);
    await h.t?.close();
  });

  const auth = (accountId: string, clientKey = ATTACKER) => `JWT ${h.d.contextJwt(accountId, {}, { clientKey })}`;

  /** Sends the request, reads the status line, then stops reading (the socket stays open). */
  function stalledDownload(path: string, authorization: string): Promise<Download> {
    const socket = net.connect(Number(new URL(h.t.baseUrl).port), '127.0.0.1');
    sockets.push(socket);
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    // A paused socket does not see the server close it; reading again does.
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(bytes)));
    socket.on('error', () => undefined);
    const sent = Date.now();
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`);
    return new Promise((resolve, reject) => {
      socket.once('data', (chunk: Buffer) => {
        socket.pause();
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1]);
        resolve({ path, authorization, status, drain: () => (socket.resume(), closed) });
      });
      socket.once('close', () => reject(new Error(`closed before answering ${path} after ${Date.now() - sent} ms`)));
    });
  }

  /** Ten downloads from one site by two of its admins, as the review did; none of them reads. */
  const tenStalled = () =>
    Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0
          ? stalledDownload('/api/evidence.csv', auth(h.d.users.siteAdmin.accountId))
          : stalledDownload('/api/spaces/ENG/evidence.csv', auth(h.d.users.spaceAdmin.accountId)),
      ),
    );

  /** Export sessions of the test database inside their snapshot (fetching, or waiting for the client). */
  const exportSessions = async () =>
    (
      await h.t.db.raw(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and state <> 'idle' and (query ilike 'fetch%' or query ilike 'declare%')`,
      )
    ).rows[0].n as number;

  /** Polls (every 100 ms, at most `ms`) until the export sessions number `n`. */
  async function sessionsBecome(n: number, ms: number): Promise<number> {
    let now = await exportSessions();
    for (let waited = 0; now !== n && waited < ms; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
      now = await exportSessions();
    }
    return now;
  }

  /**
   * /readyz, another tenant's macro and that tenant's own export all answer within `ms`, instead of waiting for a
   * connection the stalled exports hold. `ms` must stay below the stall timeout in force, or a request that waited
   * for the stalled exports to end would pass too.
   */
  async function othersUnaffected(ms = 5000): Promise<void> {
    const { t, d } = h;
    const ready = await within(ms, request(t.baseUrl).get('/readyz'));
    expect(ready.status).toBe(200);
    const page = d.pages.releaseChecklist;
    const macro = await within(ms, request(t.baseUrl).get(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0]).slice(t.baseUrl.length)));
    expect(macro.status).toBe(200);
    const theirs = await within(2 * ms, request(t.baseUrl).get('/api/evidence.csv').set('Authorization', auth(d.users.siteAdmin.accountId, d.clientKey)));
    expect(theirs.status).toBe(200);
  }

  return { h, auth, stalledDownload, tenStalled, sessionsBecome, othersUnaffected };
}

describe('stalled evidence downloads, with the default caps', () => {
  const { h, auth, stalledDownload, tenStalled, sessionsBecome, othersUnaffected } = stallHarness({});
  /** The downloads the first test left stalled. */
  let held: Download[] = [];

  it("hold at most the caps, and another tenant's requests and /readyz answer at once", async () => {
    const downloads = await tenStalled();
    // One per user, two per tenant; the rest are refused at once (429) instead of waiting for a connection.
    expect(downloads.map((x) => x.status).sort()).toEqual([200, 200, 429, 429, 429, 429, 429, 429, 429, 429]);
    held = downloads.filter((x) => x.status === 200);
    // Both accepted exports really are stuck inside their snapshots.
    expect(await sessionsBecome(2, 3000)).toBe(2);
    await othersUnaffected();
  }, 60_000);

  it('end after the stall timeout, releasing their connections and their slots', async () => {
    // The server ends the downloads the first test left stalled, on its own.
    expect(await sessionsBecome(0, STALL_MS * 6)).toBe(0);
    const received: Array<[Download, number]> = [];
    for (const x of held) received.push([x, await within(5000, x.drain())]);

    const admin = auth(h.d.users.spaceAdmin.accountId);
    const stalled = await stalledDownload('/api/spaces/ENG/evidence.csv', admin);
    expect(stalled.status).toBe(200);
    expect(await sessionsBecome(1, 3000)).toBe(1);
    expect(await sessionsBecome(0, STALL_MS * 6)).toBe(0);
    received.push([stalled, await within(5000, stalled.drain())]);

    // The slots are free again: the same admins export to the end; the stalled clients had got only a part.
    for (const [x, bytes] of received) {
      const whole = await request(h.t.baseUrl).get(x.path).set('Authorization', x.authorization);
      expect(whole.status).toBe(200);
      expect(whole.text.split('\r\n').length).toBeGreaterThan(ROWS);
      expect(bytes).toBeLessThan(Buffer.byteLength(whole.text));
    }
  }, 60_000);
});

describe('stalled evidence downloads, with caps wider than the main pool (10)', () => {
  // Room for the ten stalled exports and one more of another tenant. They stay stalled for the whole check (a
  // minute's stall timeout), so the bound on the others' answers can leave room for a busy CI machine (ten exports
  // filling their sockets at once took a 5 s bound there once) and still fail if they waited for a connection.
  const { tenStalled, sessionsBecome, othersUnaffected } = stallHarness({ concurrent: 11, perTenant: 10, perUser: 10, stallMs: 60_000 });

  it('take connections from the exports’ own pool only: requests and /readyz still answer', async () => {
    const downloads = await tenStalled();
    expect(downloads.map((x) => x.status)).toEqual(Array(10).fill(200));
    expect(await sessionsBecome(10, 5000)).toBe(10);
    await othersUnaffected(15_000);
    // Still stalled: the answers above did not come from connections the exports gave back.
    expect(await sessionsBecome(10, 0)).toBe(10);
  }, 90_000);
});

describe('stalled evidence downloads, when the stall timeout does not fire', () => {
  // Only PostgreSQL's idle_in_transaction_session_timeout of the exports' pool is left to end it.
  const { h, auth, stalledDownload, sessionsBecome } = stallHarness({ stallMs: 60_000, idleInTransactionMs: 2000 });

  it('are ended by PostgreSQL, which frees the connection and the slot', async () => {
    const admin = auth(h.d.users.spaceAdmin.accountId);
    const stalled = await stalledDownload('/api/spaces/ENG/evidence.csv', admin);
    expect(stalled.status).toBe(200);
    expect(await sessionsBecome(1, 3000)).toBe(1);
    expect(await sessionsBecome(0, 10_000)).toBe(0);
    await within(5000, stalled.drain());
    const again = await request(h.t.baseUrl).get('/api/spaces/ENG/evidence.csv').set('Authorization', admin);
    expect(again.status).toBe(200);
  }, 60_000);
});
