/**
 * SQL for reads of the evidence's health outside the checkpoint feature (metrics, `attest checkpoints`), so that
 * every place that counts or names tenants counts them the same way.
 */

/**
 * The failed chain checks that count, as `CheckpointService.verificationStatus` counts them — a failed full check,
 * and a failed incremental one unless a full check passed at or after it — with the rows' columns of
 * `audit_verification`. A failing tenant has one or two such rows.
 */
export const FAILING_CHECKS_SQL = `select v.* from audit_verification v
  where v.status = 'failed'
    and (v.scope = 'full' or not exists (select 1 from audit_verification f
          where f.client_key = v.client_key and f.scope = 'full' and f.status = 'ok' and f.checked_at >= v.checked_at))`;

/**
 * Every tenant's chain against its latest signed checkpoint: `client_key`, `head_seq`, `cp_seq` and `cp_signed_at`
 * (null before the first checkpoint), and `oldest`, when the first event no checkpoint covers was recorded (null when
 * all are signed).
 */
export const UNSIGNED_TAILS_SQL = `select h.client_key, h.seq as head_seq, cp.seq as cp_seq, cp.signed_at as cp_signed_at, e.recorded_at as oldest
  from audit_heads h
  left join lateral (select c.seq, c.signed_at from audit_checkpoints c where c.client_key = h.client_key order by c.seq desc limit 1) cp on true
  left join audit_events e on h.seq > coalesce(cp.seq, 0) and e.client_key = h.client_key and e.seq = coalesce(cp.seq, 0) + 1`;
