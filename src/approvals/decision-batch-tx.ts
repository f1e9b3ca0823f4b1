import type { AuditLog, LockedHead } from '../audit/audit-log';
import { PipelinedTx, Statement, valuesList } from '../db/pipeline';
import { BatchRead, BatchWrites, DecisionBatchTx, DecisionChange, DecisionRequest, requestKey } from './approvals-ports';
import type { Decision, Workflow } from './approvals-types';
import { decisionOfJson, workflowOfJson } from './workflow-rows';

const WORKFLOWS = 'workflows';
const DECISIONS = 'decisions';
const DECISION_REQUESTS = 'decision_requests';

type Macro = { pageId: string; macroId: string };
type Rows = Array<Record<string, unknown>>;

/**
 * A batch of decisions' statements (group commit, decision-apply.ts) in a transaction of two pipelines
 * (src/db/pipeline.ts): `BEGIN` with the reads and every lock, then the writes with the audit events and
 * `COMMIT`. Between the two the transaction holds its workflows and the tenant's audit head.
 *
 * The head is locked before the reads (and after the workflows and subjects: the order every transaction
 * takes them in), so a batch reads what every batch before it committed: the next batch of a tenant may be
 * sent while this one's commit is in flight (decision-batches.ts) and waits in PostgreSQL, not in Node.
 */
export function decisionBatchIn(audit: AuditLog, tx: PipelinedTx): DecisionBatchTx {
  let held: { head: LockedHead; refs: Map<string, string>; created: string[] } | null = null;
  return {
    async lockAndRead(clientKey, q) {
      const [createSubjects, refs] = audit.subjectStatements(clientKey, q.people);
      const read = readAfterLocks(clientKey, q.macros, q.idempotencyKeys, q.pageIds);
      const { results, completedAt } = await tx.send([
        lockByMacro(clientKey, q.macros),
        createSubjects,
        // Flushed on both sides, so that the head lock's wait shows apart from the statements around it.
        { ...refs, flush: true },
        { ...audit.headStatement(clientKey), flush: true },
        // Read holding the head lock, which every batch of the tenant takes: whatever a batch before this one
        // committed is seen, also on the unlocked workflows of the pages (the stage gate).
        read,
      ]);
      const [workflows, created, refsOf, locked, readFirst] = results;
      audit.headLockWaited(Number(completedAt[3] - completedAt[2]) / 1e9);
      // The tenant's first event: its head is created (at seq 0), locked, and the reads made again under it.
      const [, head, after] = locked ? [undefined, locked, readFirst] : (await tx.send([audit.ensureHeadStatement(clientKey), audit.headStatement(clientKey), read])).results;
      if (!head) throw new Error(`audit head for ${clientKey} vanished while appending`);
      held = { head, refs: refsOf, created };
      const decisions = new Map(workflows.map((w) => [w.id, after.decisions.get(w.id) ?? []]));
      return { workflows, decisions, requests: after.requests, pageWorkflows: after.pageWorkflows, refs: refsOf } satisfies BatchRead;
    },

    async writeAndCommit(clientKey, w: BatchWrites, sending = () => undefined) {
      if (!held) throw new Error('a batch writes only after lockAndRead');
      if (!w.decisions.length) throw new Error('a batch writes at least one decision');
      const append = audit.appendStatement(clientKey, held.head, held.refs, w.events);
      // The subjects were created for every person of the batch before its checks; a refused decision's people
      // that no recorded one names keep none, as when it is refused alone (its transaction then rolls back).
      const named = new Set(w.decisions.flatMap((d) => (d.delegateId ? [d.approverId, d.delegateId] : [d.approverId])));
      const unused = held.created.filter((accountId) => !named.has(accountId));
      const insert = insertDecisions(clientKey, w);
      const update = updateWorkflows(clientKey, w.changes);
      const drop = unused.length ? [audit.unusedSubjectsStatement(clientKey, unused)] : [];
      // Nothing was sent until here: a failure before this line committed nothing (DecisionApplier tries again).
      sending();
      const { results } = await tx.commit([insert, update, ...drop, append.statement]);
      append.counted();
      return { decisionIds: results[0], workflows: results[1] };
    },
  };
}

/**
 * Locks the workflows named by (page, macro) until the transaction ends, in (page, macro) order — the order
 * `lockWorkflowsOfPage` takes a page's, so two transactions never wait for each other in a circle. The statements
 * of a batch are written with their `$n` parameters here rather than through knex's builder, whose compilation cost
 * the batch as much as a statement's round trip (issue 15); values are only ever parameters. A text of constant
 * form with one JSON column: kept prepared, so parsed and planned once per connection.
 */
function lockByMacro(clientKey: string, macros: Macro[]): Statement<Workflow[]> {
  return {
    prepared: true,
    text: `SELECT to_jsonb(w) AS workflow FROM ${WORKFLOWS} w
            WHERE w.client_key = $1 AND (w.page_id, w.macro_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
            ORDER BY w.page_id, w.macro_id FOR UPDATE`,
    values: [clientKey, macros.map((m) => m.pageId), macros.map((m) => m.macroId)],
    read: (rows) => rows.map((r) => workflowOfJson(r.workflow as Record<string, unknown>)),
  };
}

/**
 * What a batch reads once its workflows and the tenant's head are locked, in one statement (run after the locks, so
 * with a snapshot that holds whatever the transactions it waited for committed): the decisions of the workflows named by
 * (page, macro), each list oldest first, with the Idempotency-Key rows recorded under `keys`, and every workflow of
 * `pageIds` (unlocked, by page then macro).
 */
function readAfterLocks(
  clientKey: string,
  macros: Macro[],
  keys: string[],
  pageIds: string[],
): Statement<{ decisions: Map<string, Decision[]>; requests: Map<string, DecisionRequest>; pageWorkflows: Workflow[] }> {
  return {
    // Its text is the same for every batch and its columns are JSON: parsed and planned once per connection
    // (src/db/pipeline.ts); each (page, macro) is looked up on its own, so that the one plan is the index lookup.
    // The decisions are read per workflow found (LATERAL), never the other way round: a plan made while the table
    // looked empty (a new install, before autovacuum's ANALYZE) otherwise read every decision of the tenant and
    // looked each one's workflow up among the keys — 5.5 s a call over 40,000 decisions, against 0.28 s this way
    // (a probe, not committed; 0.03 s either way once analysed, when the plan is made again). Each connection also
    // plans it again once a minute (`REPLAN_AFTER_MS`), whether analysed or not: 0.03 s again from then on.
    prepared: true,
    text: `SELECT
       (SELECT coalesce(json_agg(x ORDER BY x.decided_at, x.id), '[]'::json) FROM (
          SELECT d.*, r.idempotency_key, r.request_hash
            FROM unnest($3::text[], $4::text[]) AS m(page_id, macro_id)
           CROSS JOIN LATERAL (
                 SELECT f.id FROM ${WORKFLOWS} f WHERE f.client_key = $1 AND f.page_id = m.page_id AND f.macro_id = m.macro_id LIMIT 1) w
           CROSS JOIN LATERAL (SELECT * FROM ${DECISIONS} e WHERE e.client_key = $1 AND e.workflow_id = w.id) d
            LEFT JOIN ${DECISION_REQUESTS} r
              ON r.client_key = d.client_key AND r.decision_id = d.id AND r.idempotency_key = any($2::text[])) x) AS decisions,
       (SELECT coalesce(json_agg(to_jsonb(w) ORDER BY w.page_id, w.macro_id), '[]'::json)
          FROM ${WORKFLOWS} w WHERE w.client_key = $1 AND w.page_id = any($5::text[])) AS page_workflows`,
    values: [clientKey, keys, macros.map((m) => m.pageId), macros.map((m) => m.macroId), pageIds],
    read: (rows) => {
      const r = rows[0] as { decisions: Rows; page_workflows: Rows };
      const decisions = new Map<string, Decision[]>();
      const requests = new Map<string, DecisionRequest>();
      for (const { idempotency_key, request_hash, ...row } of r.decisions) {
        const decision = decisionOfJson(row);
        const list = decisions.get(decision.workflowId);
        if (list) list.push(decision);
        else decisions.set(decision.workflowId, [decision]);
        if (typeof idempotency_key === 'string' && typeof request_hash === 'string') {
          requests.set(requestKey(decision.workflowId, idempotency_key), { idempotencyKey: idempotency_key, requestHash: request_hash, decision });
        }
      }
      return { decisions, requests, pageWorkflows: r.page_workflows.map(workflowOfJson) };
    },
  };
}

/**
 * The decisions, in one statement with the Idempotency-Key rows of the requests that made them; reads their
 * ids in the order given. A multi-row insert takes the sequence's values row by row, so the k-th smallest id
 * is the k-th row's (what the requests' rows refer to).
 */
function insertDecisions(clientKey: string, w: Pick<BatchWrites, 'decisions' | 'requests'>): Statement<number[]> {
  const rows = valuesList(
    w.decisions.map((d) => [d.workflowId, d.approverId, d.decision, d.comment, d.pageVersion, d.round, d.viaGroups, d.decidedAt, d.delegateId, d.delegationId]),
    2,
    '$1',
  );
  const rs = w.requests;
  const n = rows.values.length + 2;
  return {
    text: `WITH d AS (
        INSERT INTO ${DECISIONS} (client_key, workflow_id, approver_id, decision, comment, page_version, round, via_groups, decided_at, delegate_id, delegation_id)
        VALUES ${rows.sql}
        RETURNING id),
      o AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM d),
      r AS (
        INSERT INTO ${DECISION_REQUESTS} (client_key, workflow_id, idempotency_key, request_hash, decision_id)
        SELECT $1, u.workflow_id, u.idempotency_key, u.request_hash, o.id
          FROM unnest($${n}::uuid[], $${n + 1}::text[], $${n + 2}::text[], $${n + 3}::int[]) AS u(workflow_id, idempotency_key, request_hash, n) JOIN o ON o.n = u.n
        RETURNING 1)
      SELECT id FROM o ORDER BY n`,
    values: [clientKey, ...rows.values, rs.map((r) => w.decisions[r.decision].workflowId), rs.map((r) => r.idempotencyKey), rs.map((r) => r.requestHash), rs.map((r) => r.decision + 1)],
    read: (rows) => rows.map((r) => Number(r.id)),
  };
}

/**
 * What decisions change on their workflows, in one statement: the time of the last decision, and for a
 * settled outcome the state and when the approval was given and lapses. Reads the workflows as updated (as JSON,
 * so that the statement stays prepared).
 */
function updateWorkflows(clientKey: string, changes: DecisionChange[]): Statement<Workflow[]> {
  return {
    prepared: true,
    text: `UPDATE ${WORKFLOWS} w
        SET last_decision_at = u.last_decision_at,
            state = CASE WHEN u.settled THEN u.state ELSE w.state END,
            approved_at = CASE WHEN u.settled THEN u.approved_at ELSE w.approved_at END,
            expires_at = CASE WHEN u.settled THEN u.expires_at ELSE w.expires_at END,
            updated_at = now()
       FROM unnest($1::uuid[], $2::timestamptz[], $3::boolean[], $4::text[], $5::timestamptz[], $6::timestamptz[])
            AS u(id, last_decision_at, settled, state, approved_at, expires_at)
      WHERE w.client_key = $7 AND w.id = u.id
      RETURNING to_jsonb(w) AS workflow`,
    values: [
      changes.map((c) => c.id),
      changes.map((c) => c.lastDecisionAt),
      changes.map((c) => c.settled !== null),
      changes.map((c) => c.settled?.state ?? null),
      changes.map((c) => c.settled?.approvedAt ?? null),
      changes.map((c) => c.settled?.expiresAt ?? null),
      clientKey,
    ],
    read: (rows) => rows.map((r) => workflowOfJson(r.workflow as Record<string, unknown>)),
  };
}
