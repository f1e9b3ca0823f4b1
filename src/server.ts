import http from 'node:http';
import { AttestApp, createApp } from './app';
import { ConfigError, loadConfig } from './config';
import { openDatabase } from './db/database';
import { migrateLatest } from './db/knex';
import { applyServerTimeouts } from './lib/http';
import { createLogger } from './lib/logger';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`attest: configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel });

  const database = await openDatabase(config, logger);
  let server: http.Server | undefined;
  let attest: AttestApp | undefined;
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
      if (server) {
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
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

  try {
    const applied = await migrateLatest(database.db);
    if (applied.length) logger.info({ applied }, 'migrations applied');
    attest = await createApp({ config, db: database.db, logger });
    const { app, devhost } = attest;
    server = http.createServer(app);
    applyServerTimeouts(server);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(config.port, config.host, () => resolve());
    });
    logger.info({ host: config.host, port: config.port, baseUrl: config.localBaseUrl }, 'Attest is listening');
    if (config.scheduler) attest.scheduler.start();
    if (devhost) {
      // The stand-in installs itself; if that fails (say CONNECT_KEYS_CDN_URL points at another key
      // server) the add-on still serves real installs, so this is worth a log line, not a stop.
      await devhost.install().then(
        () => logger.info(`devhost: open ${config.localBaseUrl}/devhost`),
        (err: unknown) => logger.error({ err: String((err as Error)?.message ?? err) }, 'devhost: the signed install failed; /devhost pages will not load'),
      );
    }
  } catch (err) {
    logger.error({ err }, 'start failed');
    await database.close().catch(() => undefined);
    process.exit(1);
  }
}

void main();
