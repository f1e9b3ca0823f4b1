import { FAILING_CHECKS_SQL, UNSIGNED_TAILS_SQL } from '../audit/evidence-health-sql';
import type { Knex } from '../db/knex';
import { printable } from '../lib/terminal';
import { CliCommand, EXIT, parseCommandArgs, positiveInt, withDatabase } from './command';

/** Checkpoints run every 5 minutes: an event unsigned for longer than three runs is behind (the README's alert). */
const DEFAULT_OLDER_THAN_S = 900;

const USAGE = `attest checkpoints [--older-than SECONDS] [--json]

Which tenants' audit chains no signed checkpoint covers yet, and why: the tenants behind
attest_unsigned_events_oldest_seconds, attest_tenants_with_unsigned_events and attest_verification_failed_tenants,
which count tenants without naming them. One line per tenant that has events no checkpoint covers or whose latest
chain check failed, oldest unsigned event first: its client key and site, its head seq, its latest checkpoint (seq,
when signed), how many events are unsigned and since when, and a failed check (scope, first bad seq, reason) —
nothing more is signed for such a tenant until someone has looked. A tenant that is not installed is listed as
"gone", never behind: its Confluence witnesses every checkpoint, so its last events wait for a reinstall. Reads
DATABASE_URL (or the embedded database in DATA_DIR); needs no key. The last run of the checkpoints job goes to stderr.

  --older-than SECONDS  a tenant is behind when its oldest unsigned event is older (default ${DEFAULT_OLDER_THAN_S})
  --json                one JSON object per tenant and line

Exits 1 when an installed tenant is behind or a tenant's chain check failed, 0 otherwise.`;

export interface TenantCheckpointLag {
  clientKey: string;
  /** The installation's base URL, or null when the tenant row is gone. */
  site: string | null;
  /** 'installed' or 'uninstalled' (null: no tenant row). */
  state: string | null;
  headSeq: number;
  checkpoint: { seq: number; signedAt: string } | null;
  unsignedEvents: number;
  /** When the oldest event no checkpoint covers was recorded, and how long ago (s); null when all are signed. */
  oldestUnsignedAt: string | null;
  oldestUnsignedSeconds: number | null;
  /** The latest failed chain check of the tenant, if one failed. */
  failedCheck: { scope: string; checkedAt: string; firstBadSeq: number | null; reason: string | null } | null;
  behind: boolean;
}

type Row = {
  client_key: string;
  head_seq: string | number;
  cp_seq: string | number | null;
  cp_signed_at: Date | null;
  oldest: Date | null;
  base_url: string | null;
  state: string | null;
  f_scope: string | null;
  f_checked_at: Date | null;
  f_first_bad_seq: string | number | null;
  f_reason: string | null;
};

/**
 * Every tenant with events no signed checkpoint covers, or whose latest chain check (of a scope) failed, oldest
 * unsigned event first. The same reading of the chains and checkpoints as the metrics' (audit/evidence-health-sql.ts).
 */
export async function tenantCheckpointLags(db: Knex, now: Date, olderThanS: number): Promise<TenantCheckpointLag[]> {
  const { rows } = await db.raw<{ rows: Row[] }>(
    `select u.*, t.base_url, t.state, f.scope as f_scope, f.checked_at as f_checked_at, f.first_bad_seq as f_first_bad_seq, f.reason as f_reason
       from (${UNSIGNED_TAILS_SQL}) u
       left join lateral (select v.scope, v.checked_at, v.first_bad_seq, v.reason from (${FAILING_CHECKS_SQL}) v
                           where v.client_key = u.client_key order by v.scope = 'full' desc, v.checked_at desc limit 1) f on true
       left join tenants t on t.client_key = u.client_key
      where u.oldest is not null or f.scope is not null
      order by u.oldest nulls last, u.client_key`,
  );
  return rows.map((r) => lagOf(r, now, olderThanS));
}

function lagOf(r: Row, now: Date, olderThanS: number): TenantCheckpointLag {
  const headSeq = Number(r.head_seq);
  const cpSeq = r.cp_seq === null ? null : Number(r.cp_seq);
  const ageMs = r.oldest ? Math.max(0, now.getTime() - r.oldest.getTime()) : null;
  const ageS = ageMs === null ? null : Math.floor(ageMs / 1000);
  const failedCheck = r.f_scope
    ? { scope: r.f_scope, checkedAt: r.f_checked_at!.toISOString(), firstBadSeq: r.f_first_bad_seq === null ? null : Number(r.f_first_bad_seq), reason: r.f_reason }
    : null;
  return {
    clientKey: r.client_key,
    site: r.base_url,
    state: r.state,
    headSeq,
    checkpoint: cpSeq === null ? null : { seq: cpSeq, signedAt: r.cp_signed_at!.toISOString() },
    unsignedEvents: headSeq - (cpSeq ?? 0),
    oldestUnsignedAt: r.oldest ? r.oldest.toISOString() : null,
    oldestUnsignedSeconds: ageS,
    failedCheck,
    // Not installed: its Confluence, which witnesses every checkpoint, is out of reach; the tail waits for a reinstall.
    behind: failedCheck !== null || (r.state === 'installed' && ageMs !== null && ageMs > olderThanS * 1000),
  };
}

/** 754 → "12m 34s": how long ago, for people. */
export function ageText(seconds: number): string {
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest || !parts.length) parts.push(`${rest}s`);
  return parts.slice(0, 2).join(' ');
}

/** One tenant on one line (text from the database made printable: it goes to a terminal). */
function lineOf(t: TenantCheckpointLag): string {
  const cp = t.checkpoint ? `checkpoint ${t.checkpoint.seq} signed ${t.checkpoint.signedAt}` : 'no checkpoint yet';
  const unsigned = t.oldestUnsignedAt ? `${t.unsignedEvents} unsigned since ${t.oldestUnsignedAt} (${ageText(t.oldestUnsignedSeconds!)})` : 'all signed';
  const site = t.site ? printable(t.site) : '(no tenant row)';
  const failed = t.failedCheck
    ? `  CHAIN CHECK FAILED (${t.failedCheck.scope}, ${t.failedCheck.checkedAt})${t.failedCheck.firstBadSeq !== null ? ` at seq ${t.failedCheck.firstBadSeq}` : ''}: ${printable(t.failedCheck.reason ?? 'no reason recorded')}`
    : '';
  const mark = t.behind ? 'BEHIND' : t.state === 'installed' ? 'ok    ' : 'gone  ';
  const gone = t.state !== 'installed' && t.oldestUnsignedAt ? ' (not installed: unsigned until it is reinstalled, its Confluence is the witness)' : '';
  return `${mark}  ${printable(t.clientKey)}  ${site}${t.state === 'uninstalled' ? ' (uninstalled)' : ''}  head ${t.headSeq}  ${cp}  ${unsigned}${gone}${failed}`;
}

export const checkpointsCommand: CliCommand = {
  summary: 'list the tenants whose audit chain no signed checkpoint covers yet, and why',
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseCommandArgs('checkpoints', args, { 'older-than': { type: 'string' }, json: { type: 'boolean' } });
    const olderThanS = positiveInt('checkpoints', 'older-than', values['older-than']) ?? DEFAULT_OLDER_THAN_S;
    const { lags, lastRun } = await withDatabase(ctx, async (db) => ({
      lags: await tenantCheckpointLags(db, new Date(), olderThanS),
      lastRun: await db('job_runs').where({ job: 'checkpoints' }).orderBy('started_at', 'desc').first<{ outcome: string; started_at: Date; error: string | null } | undefined>('outcome', 'started_at', 'error'),
    }));
    for (const t of lags) ctx.out(values.json ? JSON.stringify(t) : lineOf(t));
    const behind = lags.filter((t) => t.behind).length;
    ctx.err(`${lags.length} tenant(s) listed, ${behind} behind (an event unsigned for more than ${olderThanS} s, or a failed chain check)`);
    ctx.err(lastRun ? `last checkpoints job: ${lastRun.outcome}, started ${lastRun.started_at.toISOString()}${lastRun.error ? `: ${printable(lastRun.error)}` : ''}` : 'the checkpoints job has not run against this database');
    return behind ? EXIT.failed : EXIT.ok;
  },
};
