import { createAuditLog } from '../audit/audit-log';
import { printable } from '../lib/terminal';
import { CliCommand, CliContext, EXIT, parseCommandArgs, positiveInt, UsageError, withDatabase } from './command';
import { VERIFY_FILE_USAGE, verifyFile } from './verify-file';

const USAGE = `attest verify --db --client-key KEY [--from-seq N] [--to-seq N]

Recomputes the tenant's audit chain from the database (DATABASE_URL, or the embedded database in
DATA_DIR): seq continuity, every leaf and chain hash from the stored canonical text, the canonical's
fields against the table's columns, and the head row.
Prints "ok: ..." and exits 0, or prints "FAIL: seq N: reason" for the first bad seq and exits 1.`;

async function verifyDatabase(
  ctx: CliContext,
  clientKey: string,
  fromSeq: number | undefined,
  toSeq: number | undefined,
): Promise<number> {
  const result = await withDatabase(ctx, (db) => createAuditLog(db).verify(db, clientKey, { fromSeq, toSeq }));
  if (!result.ok) {
    // Reasons quote the stored rows: never let them drive the terminal.
    ctx.out(printable(`FAIL: ${result.reason}`));
    return EXIT.failed;
  }
  if (result.rows === 0) {
    const range = fromSeq !== undefined || toSeq !== undefined ? ` in seq ${fromSeq ?? 1}..${toSeq ?? 'end'}` : '';
    ctx.out(`FAIL: client ${clientKey} has no audit events${range}`);
    return EXIT.failed;
  }
  ctx.out(`ok: client ${clientKey}, ${result.rows} events, seq ${result.firstSeq}..${result.lastSeq}, head ${result.head}`);
  return EXIT.ok;
}

export const verifyCommand: CliCommand = {
  summary: 'verify an evidence export FILE offline, or a tenant\'s audit chain in the database (--db)',
  usage: `${USAGE}\n\n${VERIFY_FILE_USAGE}`,
  async run(args, ctx) {
    if (!args.includes('--db')) return verifyFile(args, ctx);
    const { values, positionals } = parseCommandArgs(
      'verify',
      args,
      {
        db: { type: 'boolean' },
        'client-key': { type: 'string' },
        'from-seq': { type: 'string' },
        'to-seq': { type: 'string' },
      },
      true,
    );
    if (!values.db || positionals.length) throw new UsageError('verify: give --db --client-key KEY');
    const clientKey = values['client-key'];
    if (!clientKey) throw new UsageError('verify: --client-key KEY is required with --db');
    const fromSeq = positiveInt('verify', 'from-seq', values['from-seq']);
    const toSeq = positiveInt('verify', 'to-seq', values['to-seq']);
    if (toSeq !== undefined && toSeq < (fromSeq ?? 1)) throw new UsageError('verify: --to-seq is before --from-seq');
    return verifyDatabase(ctx, clientKey, fromSeq, toSeq);
  },
};
