import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { tcpProxy, TcpProxy } from '../../test/helpers/tcp-proxy';
import { KEEPALIVE_TIMER, tcpSockets } from '../../test/helpers/tcp-sockets';
import { waitFor } from '../../test/helpers/wait-for';
import { createLogger } from '../lib/logger';
import { TENANT_CHANGE_CHANNEL, TenantChangeListener } from './tenant-change-listener';

/**
 * The listener behind the caches of issue 15 when its connection dies without a word (a NAT gateway that forgot an
 * idle connection, a database host gone in a failover): no error, no end, notifications simply stop. The caches
 * must stop serving, and the listener must listen again, as when the connection drops with a reset.
 */
describe('TenantChangeListener and a connection that dies silently', () => {
  let tdb: TestDatabase;
  let proxy: TcpProxy;
  let listener: TenantChangeListener | null = null;
  const resets: boolean[] = [];
  const changed: string[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  beforeEach(async () => {
    resets.length = 0;
    changed.length = 0;
    const u = new URL(tdb.url);
    proxy = await tcpProxy({ host: u.hostname, port: Number(u.port) });
  });
  afterEach(async () => {
    await listener?.stop();
    listener = null;
    await proxy.close();
  });
  afterAll(() => tdb.drop());

  const listen = async (heartbeatMs: number) => {
    const u = new URL(tdb.url);
    u.port = String(proxy.port);
    listener = new TenantChangeListener({
      connection: u.toString(),
      events: { changed: (ck) => changed.push(ck), configChanged: () => undefined, reset: (on) => resets.push(on) },
      logger: createLogger({ level: 'silent' }),
      maxBackoffMs: 200,
      heartbeatMs,
      heartbeatTimeoutMs: 300,
    });
    await listener.start();
    expect(listener.isListening).toBe(true);
    return listener;
  };
  const notify = (payload: string) => tdb.db.raw('SELECT pg_notify(?, ?)', [TENANT_CHANGE_CHANNEL, payload]);

  it('counts an unanswered heartbeat as a drop, bypasses the caches, and listens again on a new connection', async () => {
    const l = await listen(100);
    await notify('before');
    expect(await waitFor(() => changed.includes('before'), 5_000)).toBe(true);
    proxy.silenceExisting();
    await notify('unheard');
    expect(await waitFor(() => resets.includes(false), 5_000)).toBe(true);
    expect(await waitFor(() => l.isListening, 5_000)).toBe(true);
    expect(resets).toEqual([true, false, true]);
    expect(changed).not.toContain('unheard');
    await notify('after');
    expect(await waitFor(() => changed.includes('after'), 5_000)).toBe(true);
    // The silent connection was closed on this side, not left open beside the new one.
    expect(await waitFor(() => proxy.open === 1, 5_000)).toBe(true);
  });

  it('keeps a healthy connection: heartbeats every 50 ms for a second reset nothing', async () => {
    const l = await listen(50);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(resets).toEqual([true]);
    expect(l.isListening).toBe(true);
    // TCP keepalive too (the kernel's keepalive timer runs on the listener's socket to the proxy).
    expect(tcpSockets().filter((s) => s.remotePort === proxy.port).map((s) => s.timer)).toEqual([KEEPALIVE_TIMER]);
    await notify('still');
    expect(await waitFor(() => changed.includes('still'), 5_000)).toBe(true);
  });
});
