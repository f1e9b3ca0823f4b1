/**
 * SQL, for reads outside the checkpoint feature (metrics, the CLI): the failed chain checks that count, as
 * `CheckpointService.verificationStatus` counts them — a failed full check, and a failed incremental one unless a
 * full check passed at or after it — with the rows' columns of `audit_verification`. A failing tenant has one or
 * two such rows.
 */
export const FAILING_CHECKS_SQL = `select v.* from audit_verification v
  where v.status = 'failed'
    and (v.scope = 'full' or not exists (select 1 from audit_verification f
          where f.client_key = v.client_key and f.scope = 'full' and f.status = 'ok' and f.checked_at >= v.checked_at))`;
