import { createPublicKey, KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { parseArgs, ParseArgsConfig } from 'node:util';
import pino from 'pino';
import { loadCliConfig } from '../config';
import { openDatabase } from '../db/database';
import type { Knex } from '../db/knex';
import type { Logger } from '../lib/logger';

/** Exit codes shared by every command. */
export const EXIT = {
  ok: 0,
  /** The command ran and the answer is no (e.g. the chain does not verify). */
  failed: 1,
  usage: 2,
  /** The command could not run: configuration, database, file. */
  error: 3,
} as const;

export interface CliContext {
  env: NodeJS.ProcessEnv;
  /** One line to stdout: the command's result. */
  out(line: string): void;
  /** One line to stderr: diagnostics. */
  err(line: string): void;
}

export interface CliCommand {
  /** One line for `attest --help`. */
  summary: string;
  /** Full usage text for `attest COMMAND --help`. */
  usage: string;
  /** Returns the process exit code; throws UsageError for bad arguments. */
  run(args: string[], ctx: CliContext): Promise<number>;
}

/** Bad arguments: the CLI prints the message on one line and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** node:util parseArgs whose complaints become UsageErrors. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    // Only the first sentence: node's hint about '--' is noise for our options.
    throw new UsageError(`${command}: ${(err as Error).message.split(/\.\s|\n/)[0]}`);
  }
}

/** A positive whole number from an option, or undefined when the option is absent. */
export function positiveInt(command: string, name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`${command}: --${name} must be a positive whole number, got "${raw}"`);
  }
  return Number(raw);
}

/** Logs of a command go to stderr, quiet unless LOG_LEVEL asks for more. */
export function cliLogger(ctx: CliContext): Logger {
  return pino({ level: ctx.env.LOG_LEVEL || 'warn', base: { service: 'attest-cli' } }, pino.destination({ dest: 2, sync: true }));
}

/**
 * Opens the database exactly as the server does (DATABASE_URL, or the embedded PostgreSQL in DATA_DIR),
 * runs `fn` and closes it again. Logs go to stderr, quiet unless LOG_LEVEL asks for more.
 */
export async function withDatabase<T>(ctx: CliContext, fn: (db: Knex) => Promise<T>): Promise<T> {
  // Database settings only: no command needs, or ever creates, a key to open the database.
  const config = loadCliConfig(ctx.env);
  const logger = cliLogger(ctx);
  // Beside a running `npm start`, use its embedded PostgreSQL rather than fight it for the data directory.
  const database = await openDatabase(config, logger, { poolMax: 2, share: true });
  try {
    return await fn(database.db);
  } finally {
    await database.close();
  }
}

/** A PEM public key named on the command line (`--public-key`). */
export function readPublicKey(file: string, command = 'verify'): KeyObject {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${command}: cannot read --public-key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return createPublicKey(pem);
  } catch {
    throw new UsageError(`${command}: --public-key ${file} is not a PEM public key`);
  }
}
