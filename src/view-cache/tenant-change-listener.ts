import { randomBytes } from 'node:crypto';
import { Client, ClientConfig } from 'pg';
import { KEEPALIVE_IDLE_MS } from '../db/knex';
import type { Logger } from '../lib/logger';

/** The channel the triggers of migration 20261202000700 notify on; the payload is a client_key ('' = every tenant). */
export const TENANT_CHANGE_CHANNEL = 'attest_tenant_change';
/** Migrations 20261203000501 and 20261203000601: changes to `tenants`, `space_settings` and `delegations` only (also announced on the channel above). */
export const TENANT_CONFIG_CHANNEL = 'attest_tenant_config_change';
/** Our own round trips through PostgreSQL's notification queue (see `sync`). */
const SYNC_CHANNEL = 'attest_tenant_change_sync';

export interface TenantChangeEvents {
  /** A transaction that changed this tenant's rows committed (any instance). '' = every tenant. */
  changed(clientKey: string): void;
  /** …and it changed the installation (its secret, its state) or space settings. */
  configChanged(clientKey: string): void;
  /**
   * Changes may have been missed (the connection dropped, or it is new): forget everything. `listening` says
   * whether notifications arrive from now on; while false a cache must not serve what it holds.
   */
  reset(listening: boolean): void;
}

/**
 * LISTEN on a dedicated connection (never one of the pool's: LISTEN belongs to a session). When the
 * connection drops the cache is told at once (`reset(false)`: bypass), and the listener reconnects with a
 * bounded backoff; once LISTEN is in place again, `reset(true)` lets the cache fill afresh.
 *
 * A connection can also die without a word: a NAT gateway or load balancer that forgets an idle connection, or a
 * database host gone in a failover, sends no reset, and a socket that only listens never writes, so it would
 * never learn — while the caches went on serving what no notification invalidates any more (on every instance,
 * its own decisions included). So the listener sends a heartbeat (`sync`, a round trip through the notification
 * queue) every `heartbeatMs`; one unanswered within `heartbeatTimeoutMs` counts as a drop, and the silent socket is
 * destroyed rather than ended (ending waits for a peer that is gone). TCP keepalive is on as well.
 */
export class TenantChangeListener {
  private client: Client | null = null;
  private listening = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private dropCount = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly syncs = new Map<string, () => void>();

  constructor(
    private readonly opts: {
      /** knex's connection settings of the pool (a URL or pg's parsed config). */
      connection: string | ClientConfig;
      events: TenantChangeEvents;
      logger: Logger;
      /** Longest wait between reconnection attempts. */
      maxBackoffMs?: number;
      /** How often the connection proves it is alive (default 10 s); 0: never. */
      heartbeatMs?: number;
      /** How long a heartbeat may go unanswered before the connection counts as lost (default 5 s). */
      heartbeatTimeoutMs?: number;
    },
  ) {}

  get isListening(): boolean {
    return this.listening;
  }

  /** Connections lost since the start (dropped, failed to open, or silent past a heartbeat). */
  get drops(): number {
    return this.dropCount;
  }

  /** Resolves once listening (or after the first failure, with reconnection under way). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const c = this.opts.connection;
    // knex keeps the password non-enumerable: name each field (a spread would drop it).
    const settings: ClientConfig =
      typeof c === 'string'
        ? { connectionString: c }
        : { connectionString: c.connectionString, host: c.host, port: c.port, user: c.user, password: c.password, database: c.database, ssl: c.ssl };
    const client = new Client({ ...settings, application_name: 'attest-tenant-change-listener', keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS });
    this.client = client;
    client.on('error', (err) => this.lost(client, err.message));
    client.on('end', () => this.lost(client, 'connection ended'));
    client.on('notification', (msg) => {
      if (msg.channel === TENANT_CHANGE_CHANNEL) this.opts.events.changed(msg.payload ?? '');
      else if (msg.channel === TENANT_CONFIG_CHANNEL) this.opts.events.configChanged(msg.payload ?? '');
      else if (msg.channel === SYNC_CHANNEL && msg.payload) {
        const done = this.syncs.get(msg.payload);
        if (done) {
          this.syncs.delete(msg.payload);
          done();
        }
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${TENANT_CHANGE_CHANNEL}`);
      await client.query(`LISTEN ${TENANT_CONFIG_CHANNEL}`);
      await client.query(`LISTEN ${SYNC_CHANNEL}`);
      if (this.client !== client) return;
      this.attempt = 0;
      this.setListening(true);
      this.startHeartbeat(client);
    } catch (err) {
      this.lost(client, (err as Error).message);
    }
  }

  /** `client` (if still ours) is gone: bypass the caches, close it for good and try again later. */
  private lost(client: Client, why: string, silent = false): void {
    if (this.client !== client) return;
    this.client = null;
    this.dropCount++;
    this.stopHeartbeat();
    this.setListening(false);
    client.removeAllListeners('notification');
    if (silent) client.connection.stream.destroy();
    client.end().catch(() => undefined);
    if (this.stopped) return;
    this.opts.logger.warn({ why }, 'tenant change listener lost its connection: caches bypassed until it listens again');
    this.scheduleReconnect();
  }

  private startHeartbeat(client: Client): void {
    const every = this.opts.heartbeatMs ?? 10_000;
    if (!(every > 0)) return;
    const timeout = this.opts.heartbeatTimeoutMs ?? 5_000;
    let inFlight = false;
    this.heartbeat = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      this.sync(timeout)
        .catch((err: Error) => this.lost(client, `heartbeat: ${err.message}`, true))
        .finally(() => (inFlight = false));
    }, every);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private setListening(listening: boolean): void {
    // Either way whatever a cache holds may be stale: it was filled before a gap in what we heard.
    this.listening = listening;
    this.opts.events.reset(listening);
  }

  private scheduleReconnect(): void {
    if (this.retryTimer || this.stopped) return;
    const max = this.opts.maxBackoffMs ?? 5_000;
    const delay = Math.min(max, 100 * 2 ** Math.min(this.attempt++, 10));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * Resolves once every change committed before this call has been delivered to `changed`: PostgreSQL
   * delivers notifications in commit order, so our own NOTIFY coming back means the earlier ones came first.
   * Rejects after `timeoutMs`, or at once when not listening.
   */
  async sync(timeoutMs = 5_000): Promise<void> {
    const client = this.client;
    if (!client || !this.listening) throw new Error('the tenant change listener is not listening');
    const nonce = randomBytes(8).toString('hex');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.syncs.delete(nonce);
        reject(new Error('tenant change sync timed out'));
      }, timeoutMs);
      this.syncs.set(nonce, () => {
        clearTimeout(timer);
        resolve();
      });
      client.query('SELECT pg_notify($1, $2)', [SYNC_CHANNEL, nonce]).catch((err: Error) => {
        clearTimeout(timer);
        this.syncs.delete(nonce);
        reject(err);
      });
    });
  }

  /** Ends the connection for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopHeartbeat();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.listening = false;
    if (client) await client.end().catch(() => undefined);
  }

  /** The PostgreSQL backend pid of the listening session (tests terminate it to simulate a drop). */
  async backendPid(): Promise<number | null> {
    if (!this.client) return null;
    const r = await this.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return r.rows[0]?.pid ?? null;
  }
}
