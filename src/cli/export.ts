import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { loadCliConfig } from '../config';
import { systemClock } from '../lib/clock';
import { parseEvidenceTime } from '../evidence/evidence-time';
import { createOperatorExport } from '../evidence/operator-export';
import type { EvidenceFormat } from '../evidence/evidence-service';
import { CliCommand, EXIT, parseCommandArgs, readPublicKey, UsageError, withDatabase } from './command';

const USAGE = `attest export --client-key KEY [--space SPACE] [--from TIME] [--to TIME] [--format csv|zip] [--public-key PEM] [-o FILE]

Writes the tenant's evidence export from the database (DATABASE_URL, or the embedded database in DATA_DIR):
a CSV of the audit chain, or (zip) an evidence pack with manifest, every signed checkpoint in its range,
public key and VERIFY.md. It signs no checkpoint: the export ends at the last one the server signed.
Needs no private key: with ATTEST_SIGNING_KEY set the pack's manifest is signed; without it the manifest
is unsigned and the pack hides no row (so --space needs the key, or the app's Evidence tab), and nothing
proves it holds every row: attest verify fails it unless given --no-strict.
  --space SPACE   only this space's events in full; other rows keep their seq and hashes only
  --public-key PEM  the operator's public key, put in the pack as public-key.pem (the auditor pins their own)
  --from, --to    events recorded at or after --from and before --to (ISO date or date-time with zone)
  --format        csv (default, or from -o's extension) or zip
  -o FILE         write to FILE instead of standard output
Progress goes to standard error. Check the result with: attest verify FILE`;

function time(name: string, raw: string | undefined): Date | null {
  if (raw === undefined) return null;
  const d = parseEvidenceTime(raw);
  if (!d) throw new UsageError(`export: --${name} must be an ISO date (YYYY-MM-DD) or date-time with a time zone, got "${raw}"`);
  return d;
}

export const exportCommand: CliCommand = {
  summary: 'write an evidence export (CSV or zip pack) of a tenant\'s audit chain',
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseCommandArgs('export', args, {
      'client-key': { type: 'string' },
      space: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      'public-key': { type: 'string' },
      output: { type: 'string', short: 'o' },
    });
    const clientKey = values['client-key'];
    if (!clientKey) throw new UsageError('export: --client-key KEY is required');
    const out = values.output;
    const format = (values.format ?? (out && path.extname(out).toLowerCase() === '.zip' ? 'zip' : 'csv')) as EvidenceFormat;
    if (format !== 'csv' && format !== 'zip') throw new UsageError(`export: --format must be csv or zip, got "${values.format}"`);
    const from = time('from', values.from);
    const to = time('to', values.to);
    if (from && to && from >= to) throw new UsageError('export: --from must be before --to');
    if (!out && format === 'zip' && process.stdout.isTTY) throw new UsageError('export: a zip pack is binary: give -o FILE');
    const { signingKey } = loadCliConfig(ctx.env);
    const publicKey = values['public-key'] !== undefined ? readPublicKey(values['public-key'], 'export') : null;
    if (format === 'zip' && !signingKey && values.space !== undefined) {
      throw new UsageError(
        'export: a pack of one space hides the other spaces\' rows, and only a manifest signed with the checkpoint key vouches for them: ' +
          'set ATTEST_SIGNING_KEY, export the whole site, or export from the space\'s Evidence tab',
      );
    }

    // The directory may be shared (/tmp): an unguessable name created exclusively, so a planted file or
    // symlink makes the export fail instead of being followed.
    const tmp = out ? path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(8).toString('hex')}.part`) : null;
    const sink: Writable = tmp ? fs.createWriteStream(tmp, { fd: fs.openSync(tmp, 'wx', 0o600) }) : process.stdout;
    const started = Date.now();
    try {
      const summary = await withDatabase(ctx, (db) =>
        createOperatorExport(db, { signingKey, publicKey }, systemClock).write(
          clientKey,
          { spaceKey: values.space ?? null, from, to },
          format,
          sink,
          { onProgress: (rows) => ctx.err(`export: ${rows} rows (${((Date.now() - started) / 1000).toFixed(1)} s)`), progressEvery: 100_000 },
        ),
      );
      if (tmp && out) fs.renameSync(tmp, out);
      const range = summary.rows ? `seq ${summary.firstSeq}..${summary.lastSeq}` : 'no events in range';
      const cp = `, checkpoint ${summary.checkpoint ? `at seq ${summary.checkpoint.seq}` : 'none (the rows are covered by no signature)'}`;
      if (summary.endedAtCheckpoint) {
        ctx.err(`export: ends at the last signed checkpoint (seq ${summary.lastSeq}); seq ${summary.lastSeq! + 1}..${summary.endedAtCheckpoint.requestedToSeq} are not signed yet`);
      }
      const redacted = summary.redactedRows ? ` (${summary.redactedRows} outside the filter)` : '';
      ctx.err(`export: done, ${summary.rows} rows${redacted}, ${range}${cp}${out ? ` -> ${out}` : ''}`);
      if (format === 'zip' && !signingKey) {
        ctx.err('export: the manifest is not signed (ATTEST_SIGNING_KEY not set): attest verify fails the pack unless given --no-strict');
      }
      return EXIT.ok;
    } finally {
      if (tmp && fs.existsSync(tmp)) fs.rmSync(tmp, { force: true });
    }
  },
};
