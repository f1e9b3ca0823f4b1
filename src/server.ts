import http from 'node:http';
import { AttestApp, createApp } from './app';
import { Config, ConfigError, loadConfig } from './config';
import { openDatabase } from './db/database';
import { migrateLatest } from './db/knex';
import { applyServerTimeouts } from './lib/http';
import { createLogger, Logger } from './lib/logger';

const SHUTDOWN_GRACE_MS = 10_000;

/** The configuration, or exit 1 with the reason on stderr (no stack: the operator's input was wrong). */
function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`attest: configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** What is running, filled in as start-up gets there; shutdown stops whatever exists. */
interface Running {
  server?: http.Server;
  attest?: AttestApp;
}

/**
 * SIGTERM/SIGINT: stop taking connections, let the scheduler and the page events in flight finish, close the
 * app and the database; exit 1 if that takes longer than SHUTDOWN_GRACE_MS or fails.
 */
function onSignals(running: Running, database: { close(): Promise<void> }, logger: Logger): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    try {
      const { server, attest } = running;
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await closed;
      }
      if (attest) {
        await attest.scheduler.stop();
        await attest.pageEvents.settled();
        await attest.close();
      }
      await database.close();
      logger.info('stopped');
      clearTimeout(force);
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function listen(server: http.Server, config: Config): Promise<void> {
  applyServerTimeouts(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
}

/**
 * The stand-in installs itself; if that fails (say CONNECT_KEYS_CDN_URL points at another key server) the
 * add-on still serves real installs, so this is worth a log line, not a stop.
 */
async function installDevhost(attest: AttestApp, config: Config, logger: Logger): Promise<void> {
  if (!attest.devhost) return;
  await attest.devhost.install().then(
    () => logger.info(`devhost: open ${config.localBaseUrl}/devhost`),
    (err: unknown) => logger.error({ err: String((err as Error)?.message ?? err) }, 'devhost: the signed install failed; /devhost pages will not load'),
  );
}

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = createLogger({ level: config.logLevel });
  const database = await openDatabase(config, logger);
  const running: Running = {};
  onSignals(running, database, logger);
  try {
    const applied = await migrateLatest(database.db);
    if (applied.length) logger.info({ applied }, 'migrations applied');
    running.attest = await createApp({ config, db: database.db, logger });
    running.server = http.createServer(running.attest.app);
    await listen(running.server, config);
    logger.info({ host: config.host, port: config.port, baseUrl: config.localBaseUrl }, 'Attest is listening');
    if (config.scheduler) running.attest.scheduler.start();
    await installDevhost(running.attest, config, logger);
  } catch (err) {
    logger.error({ err }, 'start failed');
    await database.close().catch(() => undefined);
    process.exit(1);
  }
}

void main();
