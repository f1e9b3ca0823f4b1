import type { KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import { isHashHex } from '../audit/audit-format';
import { createAuditLog } from '../audit/audit-log';
import { AuditStore } from '../audit/audit-store';
import { keyIdOf, verifyCheckpoint } from '../audit/checkpoint-format';
import { CheckpointStore } from '../audit/checkpoint-store';
import { printable } from '../lib/terminal';
import { CliCommand, CliContext, EXIT, parseCommandArgs, positiveInt, UsageError, withDatabase } from './command';
import { readPublicKey, VERIFY_FILE_USAGE, verifyFile } from './verify-file';

const USAGE = `attest verify --db --client-key KEY [--from-seq N] [--to-seq N] [--public-key PEM | --key-id HEX]

Recomputes the tenant's audit chain from the database (DATABASE_URL, or the embedded database in
DATA_DIR): seq continuity, every leaf and chain hash from the stored canonical text, the canonical's
fields against the table's columns, and the head row. Then every signed checkpoint: its chain hash
against the recomputed chain (a checkpoint beyond the last event means events were deleted), and its
signature against the pinned operator key (--public-key, or --key-id for its fingerprint; without one
the checkpoints' hashes are checked and the summary says their signatures were not).
Prints "ok: ..." and exits 0, or prints "FAIL: seq N: reason" for the first bad seq and exits 1.`;

type Pin = { publicKey: KeyObject } | { keyId: string } | null;

/**
 * Every checkpoint of the tenant against the chain (the hash at its seq) and, with a pinned key, its
 * signature. A checkpoint past the last event is the proof that events were deleted.
 */
async function checkpointProblem(db: Knex, clientKey: string, pin: Pin): Promise<{ seq: number; reason: string } | { checked: number }> {
  const store = new AuditStore(db);
  const checkpoints = await new CheckpointStore(db).all(clientKey);
  for (const cp of checkpoints) {
    const at = await store.chainHashAt(clientKey, cp.seq);
    if (!at) return { seq: cp.seq, reason: `seq ${cp.seq} is missing, but a checkpoint was signed there at ${cp.signedAt.toISOString()}: events were deleted` };
    if (at.toString('hex') !== cp.chainHash) return { seq: cp.seq, reason: `seq ${cp.seq}: the chain no longer matches the checkpoint signed at ${cp.signedAt.toISOString()}` };
    if (!pin) continue;
    const pinnedId = 'keyId' in pin ? pin.keyId : keyIdOf(pin.publicKey);
    if (cp.keyId !== pinnedId) return { seq: cp.seq, reason: `seq ${cp.seq}: checkpoint signed with key ${cp.keyId}, not the pinned key ${pinnedId}` };
    if ('publicKey' in pin && !verifyCheckpoint(pin.publicKey, { clientKey, seq: cp.seq, chainHash: cp.chainHash, signedAt: cp.signedAt.toISOString() }, cp.signature)) {
      return { seq: cp.seq, reason: `seq ${cp.seq}: the checkpoint's signature does not verify with the pinned key` };
    }
  }
  return { checked: checkpoints.length };
}

async function verifyDatabase(
  ctx: CliContext,
  clientKey: string,
  fromSeq: number | undefined,
  toSeq: number | undefined,
  pin: Pin,
): Promise<number> {
  const [result, cps] = await withDatabase(ctx, async (db) => {
    const r = await createAuditLog(db).verify(db, clientKey, { fromSeq, toSeq });
    return [r, r.ok ? await checkpointProblem(db, clientKey, pin) : null] as const;
  });
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
  if (cps && 'reason' in cps) {
    ctx.out(printable(`FAIL: ${cps.reason}`));
    return EXIT.failed;
  }
  const checked = cps && 'checked' in cps ? cps.checked : 0;
  const signatures = !checked ? 'no signed checkpoint' : pin ? `${checked} checkpoints match the chain and the pinned key` : `${checked} checkpoints match the chain (signatures not checked: pass --public-key or --key-id)`;
  ctx.out(printable(`ok: client ${clientKey}, ${result.rows} events, seq ${result.firstSeq}..${result.lastSeq}, head ${result.head}; ${signatures}`));
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
        'public-key': { type: 'string' },
        'key-id': { type: 'string' },
      },
      true,
    );
    if (!values.db || positionals.length) throw new UsageError('verify: give --db --client-key KEY');
    const clientKey = values['client-key'];
    if (!clientKey) throw new UsageError('verify: --client-key KEY is required with --db');
    const fromSeq = positiveInt('verify', 'from-seq', values['from-seq']);
    const toSeq = positiveInt('verify', 'to-seq', values['to-seq']);
    if (toSeq !== undefined && toSeq < (fromSeq ?? 1)) throw new UsageError('verify: --to-seq is before --from-seq');
    if (values['public-key'] !== undefined && values['key-id'] !== undefined) throw new UsageError('verify: give --public-key or --key-id, not both');
    if (values['key-id'] !== undefined && !isHashHex(values['key-id'])) throw new UsageError('verify: --key-id must be 64 lower-case hex characters (attest keys --id)');
    const pin: Pin = values['public-key'] !== undefined ? { publicKey: readPublicKey(values['public-key']) } : values['key-id'] !== undefined ? { keyId: values['key-id'] } : null;
    return verifyDatabase(ctx, clientKey, fromSeq, toSeq, pin);
  },
};
