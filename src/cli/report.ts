import { createPublicKey, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadCliConfig } from '../config';
import { SPACE_KEY_PATTERN } from '../confluence/confluence-ids';
import { parseEvidenceTime } from '../evidence/evidence-time';
import { AuditReadModel } from '../audit/audit-read-model';
import { systemClock } from '../lib/clock';
import { ReportService } from '../report/report-service';
import { CliCommand, EXIT, parseCommandArgs, readPublicKey, UsageError, withDatabase } from './command';

const USAGE = `attest report --client-key KEY [--space SPACE] [--from TIME] [--to TIME] [--public-key PEM] -o FILE

Writes the SOC 2 report (one self-contained HTML file) of a tenant's space, or of every space, for a period,
from the audit trail in the database (DATABASE_URL, or the embedded database in DATA_DIR): change management
(CC8.1) with its exceptions, logging and integrity (CC7.2, PI1.1), access (CC6.1), recertification and charts.
Every row names the audit seq numbers it rests on (see them with attest export). It signs no checkpoint.
  --space SPACE     one space (default: every space of the tenant)
  --from, --to      the period: events recorded at or after --from and before --to (ISO date or date-time
                    with zone; default: from the start of the trail to now)
  --public-key PEM  the checkpoint key, to check the checkpoints' signatures and show its fingerprint
                    (default: derived from ATTEST_SIGNING_KEY when set)
  -o FILE           the HTML file to write`;

function time(name: string, raw: string | undefined): Date | null {
  if (raw === undefined) return null;
  const d = parseEvidenceTime(raw);
  if (!d) throw new UsageError(`report: --${name} must be an ISO date (YYYY-MM-DD) or date-time with a time zone, got "${raw}"`);
  return d;
}

export const reportCommand: CliCommand = {
  summary: 'write the SOC 2 report (HTML) of a tenant\'s space or spaces for a period',
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseCommandArgs('report', args, {
      'client-key': { type: 'string' },
      space: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'public-key': { type: 'string' },
      output: { type: 'string', short: 'o' },
    });
    const clientKey = values['client-key'];
    if (!clientKey) throw new UsageError('report: --client-key KEY is required');
    const out = values.output;
    if (!out) throw new UsageError('report: -o FILE is required');
    const space = values.space ?? null;
    if (space !== null && !SPACE_KEY_PATTERN.test(space)) throw new UsageError(`report: --space must be a Confluence space key, got "${space}"`);
    const from = time('from', values.from);
    const to = time('to', values.to);
    if (from && to && from >= to) throw new UsageError('report: --from must be before --to');
    const { signingKey } = loadCliConfig(ctx.env);
    const publicKey = values['public-key'] !== undefined ? readPublicKey(values['public-key'], 'report') : signingKey ? createPublicKey(signingKey) : null;

    const started = Date.now();
    const html = await withDatabase(ctx, async (db) => {
      const source = new AuditReadModel(db);
      if ((await source.lastSeq(clientKey)) === 0) throw new UsageError(`report: tenant "${clientKey}" has no audit events (check --client-key)`);
      return new ReportService({ source, publicKey, clock: systemClock }).report({ clientKey, spaceKey: space, from, to });
    });
    // Written beside the target under an unguessable name, then renamed: never half a report, never through a planted link.
    const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(8).toString('hex')}.part`);
    try {
      fs.writeFileSync(tmp, html, { flag: 'wx', mode: 0o600 });
      fs.renameSync(tmp, out);
    } finally {
      if (fs.existsSync(tmp)) fs.rmSync(tmp, { force: true });
    }
    ctx.err(`report: done, ${space === null ? 'every space' : `space ${space}`}, ${Buffer.byteLength(html)} bytes in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${out}`);
    return EXIT.ok;
  },
};
