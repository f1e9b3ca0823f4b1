import type { KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import { isHashHex } from '../audit/audit-format';
import { createAuditLog } from '../audit/audit-log';
import { AuditStore } from '../audit/audit-store';
import { checkpointMessage, verifyCheckpoint } from '../audit/checkpoint-format';
import { verifyCheckpointStamp } from '../audit/witness/timestamp';
import { loadCliConfig } from '../config';
import { CheckpointStore } from '../audit/checkpoint-store';
import { printable } from '../lib/terminal';
import { CliCommand, CliContext, EXIT, parseCommandArgs, positiveInt, UsageError, withDatabase } from './command';
import { readPublicKey, readTsaCertificates, VERIFY_FILE_USAGE, verifyFile } from './verify-file';

const USAGE = `attest verify --db --client-key KEY [--from-seq N] [--to-seq N] [--public-key PEM | --key-id HEX] [--tsa-cert PEM]

Recomputes the tenant's audit chain from the database (DATABASE_URL, or the embedded database in
DATA_DIR): seq continuity, every leaf and chain hash from the stored canonical text, the canonical's
fields against the table's columns, and the head row; with ATTEST_SECRET_KEY set, every event's MAC
(a row the app did not append fails). Then every signed checkpoint: its chain hash against the
recomputed chain (a checkpoint beyond the last event means events were deleted), signedAt increasing
with seq, its signature against the pinned operator key (--public-key, or --key-id for its fingerprint;
without one the checkpoints' hashes are checked and the summary says their signatures were not), and
its witness: once a checkpoint was witnessed none after it may be unwitnessed, and with --tsa-cert
(default: ATTEST_TSA_CERT) every TSA receipt must stamp its checkpoint no earlier than it was signed.
Needs no private key. Prints "ok: ..." and exits 0, or "FAIL: seq N: reason" for the first bad seq and exits 1.`;

type Pin = { publicKey: KeyObject } | { keyId: string } | null;

/**
 * Every checkpoint of the tenant against the chain (the hash at its seq), its order, its witness and, with a
 * pinned key, its signature. A checkpoint past the last event is the proof that events were deleted.
 */
async function checkpointProblem(
  db: Knex,
  clientKey: string,
  pin: Pin,
  tsaCerts: string[] | null,
): Promise<{ seq: number; reason: string } | { checked: number; witnessed: number; stamped: number }> {
  const store = new AuditStore(db);
  const checkpoints = await new CheckpointStore(db).all(clientKey);
  let witnessed = 0;
  let stamped = 0;
  let prev: (typeof checkpoints)[number] | null = null;
  for (const cp of checkpoints) {
    const at = await store.chainHashAt(clientKey, cp.seq);
    const signedAt = cp.signedAt;
    if (!at) return { seq: cp.seq, reason: `seq ${cp.seq} is missing, but a checkpoint was signed there at ${signedAt}: events were deleted` };
    if (at.toString('hex') !== cp.chainHash) return { seq: cp.seq, reason: `seq ${cp.seq}: the chain no longer matches the checkpoint signed at ${signedAt}` };
    if (prev && cp.signedAt <= prev.signedAt) {
      return { seq: cp.seq, reason: `seq ${cp.seq}: the checkpoint was signed at ${signedAt}, not after the one at seq ${prev.seq} (${prev.signedAt}): a checkpoint was backdated or inserted` };
    }
    prev = cp;
    const w = cp.witness ?? null;
    if (w && (w.confluence || w.tsa)) witnessed++;
    else if (witnessed > 0) return { seq: cp.seq, reason: `seq ${cp.seq}: the checkpoint signed at ${signedAt} has no witness though an earlier one has: it was signed around the witnesses, or its receipt was removed` };
    if (w?.tsa) {
      stamped++;
      if (tsaCerts) {
        try {
          verifyCheckpointStamp(w.tsa.token, checkpointMessage({ clientKey, seq: cp.seq, chainHash: cp.chainHash, signedAt }), signedAt, tsaCerts);
        } catch (err) {
          return { seq: cp.seq, reason: `seq ${cp.seq}: the TSA receipt of the checkpoint signed at ${signedAt} does not hold: ${(err as Error).message}` };
        }
      }
    } else if (tsaCerts && stamped > 0) {
      return { seq: cp.seq, reason: `seq ${cp.seq}: the checkpoint signed at ${signedAt} has no TSA receipt though an earlier one has` };
    }
    if (!pin) continue;
    // A pinned id can only be held against the row's key_id; a pinned key checks the signature itself.
    if ('keyId' in pin && cp.keyId !== pin.keyId) return { seq: cp.seq, reason: `seq ${cp.seq}: checkpoint signed with key ${cp.keyId}, not the pinned key ${pin.keyId}` };
    if ('publicKey' in pin && !verifyCheckpoint(pin.publicKey, { clientKey, seq: cp.seq, chainHash: cp.chainHash, signedAt }, cp.signature)) {
      return { seq: cp.seq, reason: `seq ${cp.seq}: the checkpoint's signature does not verify with the pinned key` };
    }
  }
  return { checked: checkpoints.length, witnessed, stamped };
}

async function verifyDatabase(
  ctx: CliContext,
  clientKey: string,
  fromSeq: number | undefined,
  toSeq: number | undefined,
  pin: Pin,
  tsaCerts: string[] | null,
  secretKey: Buffer | null,
): Promise<number> {
  const [result, macs, cps] = await withDatabase(ctx, async (db) => {
    const log = createAuditLog(db, secretKey ?? undefined);
    const r = await log.verify(db, clientKey, { fromSeq, toSeq });
    const m = r.ok && r.rows > 0 && secretKey ? await log.verifyMacs(db, clientKey, { fromSeq: r.firstSeq!, toSeq: r.lastSeq! }) : null;
    return [r, m, r.ok && (!m || m.ok) ? await checkpointProblem(db, clientKey, pin, tsaCerts) : null] as const;
  });
  if (!result.ok) {
    // Reasons quote the stored rows: never let them drive the terminal.
    ctx.out(printable(`FAIL: ${result.reason}`));
    return EXIT.failed;
  }
  if (macs && !macs.ok) {
    ctx.out(printable(`FAIL: seq ${macs.seq}: ${macs.reason}`));
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
  const c = cps && 'checked' in cps ? cps : { checked: 0, witnessed: 0, stamped: 0 };
  const checked = c.checked;
  const signatures = !checked ? 'no signed checkpoint' : pin ? `${checked} checkpoints match the chain and the pinned key` : `${checked} checkpoints match the chain (signatures not checked: pass --public-key or --key-id)`;
  const witnesses = !checked
    ? ''
    : `; ${c.witnessed} witnessed, ${c.stamped} with TSA receipts${c.stamped ? (tsaCerts ? ' (verified)' : ' (not verified: pass --tsa-cert)') : ''}`;
  const macLine = macs ? '; every event\'s MAC verifies' : '; MACs not checked (ATTEST_SECRET_KEY not set)';
  ctx.out(printable(`ok: client ${clientKey}, ${result.rows} events, seq ${result.firstSeq}..${result.lastSeq}, head ${result.head}${macLine}; ${signatures}${witnesses}`));
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
        'tsa-cert': { type: 'string' },
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
    const config = loadCliConfig(ctx.env);
    const tsaCerts = values['tsa-cert'] !== undefined ? readTsaCertificates(values['tsa-cert']) : (config.tsa?.certificatesPem ?? null);
    return verifyDatabase(ctx, clientKey, fromSeq, toSeq, pin, tsaCerts, config.secretKey);
  },
};
