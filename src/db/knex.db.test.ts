import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { KEEPALIVE_TIMER, tcpSockets } from '../../test/helpers/tcp-sockets';

/**
 * TCP keepalive on the pool's connections (src/db/knex.ts): a database host gone without a reset must fail the
 * connections waiting on it within seconds, not leave them waiting for ever. The kernel says which sockets have it:
 * an idle socket with SO_KEEPALIVE runs the keepalive timer (2 in /proc/net/tcp's `tr`), one without runs none.
 */
describe('the pool’s connections', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(() => tdb.drop());

  it('have TCP keepalive on while they idle in the pool', async () => {
    const client = tdb.db.client as { acquireConnection(): Promise<{ connection: { stream: { localPort: number } } }>; releaseConnection(c: unknown): Promise<void> };
    await tdb.db.raw('select 1');
    const conn = await client.acquireConnection();
    const port = conn.connection.stream.localPort;
    await client.releaseConnection(conn);
    const row = tcpSockets().find((s) => s.localPort === port);
    expect(row).toBeDefined();
    expect(row!.timer).toBe(KEEPALIVE_TIMER);
  });
});
