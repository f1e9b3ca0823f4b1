import type { Knex } from 'knex';
import type { PersonalDataHolder, StoredAccount } from '../db/personal-data';
import { pipelined } from '../db/pipeline';
import { CoalescedReads } from '../lib/coalesced-reads';
import { OPEN_STATES } from './approval-rules';
import type { Decision, Workflow } from './approvals-types';
import { DecisionRequest, NewWorkflow, WorkflowPatch, WorkflowReads } from './approvals-ports';
import { decisionOfJson, DecisionRow, toDecision, toWorkflow, workflowOfJson, WorkflowRow } from './workflow-rows';

const WORKFLOWS = 'workflows';
const DECISIONS = 'decisions';
const DECISION_REQUESTS = 'decision_requests';

const COLUMN: Record<Exclude<keyof WorkflowPatch, 'pagePosition'>, keyof WorkflowRow> = {
  title: 'title',
  after: 'after_title',
  spaceKey: 'space_key',
  pageTitle: 'page_title',
  state: 'state',
  stateBeforeArchive: 'state_before_archive',
  rule: 'rule',
  quorum: 'quorum',
  rejections: 'rejections',
  approvers: 'approvers',
  groups: 'groups',
  dueDate: 'due_date',
  reviewDays: 'review_days',
  boundVersion: 'bound_version',
  bodyHash: 'body_hash',
  boundAuthorId: 'bound_author_id',
  round: 'round',
  approvedAt: 'approved_at',
  expiresAt: 'expires_at',
  lastDecisionAt: 'last_decision_at',
  contentType: 'content_type',
  appUnreadableSince: 'app_unreadable_since',
};

/**
 * A workflow by (client_key, page_id, macro_id), with the Idempotency-Key of a decision request on it ('' for
 * none), and that key as one string that no other key gives.
 */
type WorkflowKey = readonly [clientKey: string, pageId: string, macroId: string, idempotencyKey: string];
const keyId = (k: WorkflowKey) => JSON.stringify(k);
type WorkflowAndRequestRow = { workflow: Record<string, unknown>; asked_key: string; request: (Record<string, unknown> & { request_hash: string }) | null };

/**
 * The workflows of `keys` in one statement, each with the decision recorded under its key's Idempotency-Key: a
 * text of constant form whatever the number of keys, and JSON columns, so it is kept prepared and planned once
 * (src/db/pipeline.ts). Each key is looked up on its own (`LATERAL … LIMIT 1`: the key is unique), so that the one
 * plan is the index lookup whatever the size of the table; joined to the keys, a plan made without their number
 * scanned a tenant's few hundred workflows.
 */
const WORKFLOWS_AND_REQUESTS = `
  SELECT to_jsonb(w) AS workflow, k.idempotency_key AS asked_key,
         CASE WHEN k.idempotency_key <> '' THEN (
           SELECT row_to_json(x) FROM (
             SELECT d.*, r.request_hash
               FROM ${DECISION_REQUESTS} r JOIN ${DECISIONS} d ON d.client_key = r.client_key AND d.id = r.decision_id
              WHERE r.client_key = w.client_key AND r.workflow_id = w.id AND r.idempotency_key = k.idempotency_key) x)
         END AS request
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(client_key, page_id, macro_id, idempotency_key)
   CROSS JOIN LATERAL (
         SELECT * FROM ${WORKFLOWS} f WHERE f.client_key = k.client_key AND f.page_id = k.page_id AND f.macro_id = k.macro_id LIMIT 1) w`;

/**
 * The workflows, decisions and decision requests in PostgreSQL. Reads without `trx` use the pool; the methods
 * that lock or write take the transaction, which `approvalsStores` (approvals-tx-store.ts) binds, so services
 * never see it.
 */
export class ApprovalsStore implements WorkflowReads, PersonalDataHolder {
  /**
   * Workflow rows read without a transaction, each with a decision request when asked: concurrent reads (a
   * decision's first, its Idempotency-Key's included) share one statement.
   */
  private readonly workflowReads: CoalescedReads<WorkflowKey, WorkflowAndRequestRow>;

  constructor(private readonly db: Knex) {
    this.workflowReads = new CoalescedReads(keyId, async (keys) => {
      const column = (i: number) => keys.map((k) => k[i]);
      const [found] = await pipelined(
        db,
        [{ text: WORKFLOWS_AND_REQUESTS, values: [column(0), column(1), column(2), column(3)], read: (rows) => rows as WorkflowAndRequestRow[], prepared: true }],
        { genericPlans: true },
      );
      return new Map(found.map((r) => [keyId([r.workflow.client_key as string, r.workflow.page_id as string, r.workflow.macro_id as string, r.asked_key]), r]));
    });
  }

  async findWorkflow(clientKey: string, pageId: string, macroId: string, trx?: Knex.Transaction): Promise<Workflow | null> {
    if (trx) {
      const row = await trx<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey, page_id: pageId, macro_id: macroId }).first();
      return row ? toWorkflow(row) : null;
    }
    const found = await this.workflowReads.get([clientKey, pageId, macroId, '']);
    return found ? workflowOfJson(found.workflow) : null;
  }

  /** The workflow (null: none) with the decision recorded on it under this Idempotency-Key, read as findWorkflow reads. */
  async findWorkflowAndRequest(clientKey: string, pageId: string, macroId: string, idempotencyKey: string): Promise<{ workflow: Workflow; earlier: DecisionRequest | null } | null> {
    if (!idempotencyKey) throw new Error('findWorkflowAndRequest needs an Idempotency-Key');
    const row = await this.workflowReads.get([clientKey, pageId, macroId, idempotencyKey]);
    if (!row) return null;
    const { asked_key, request, workflow } = row;
    const earlier = request ? { idempotencyKey: asked_key, requestHash: request.request_hash, decision: decisionOfJson(request) } : null;
    return { workflow: workflowOfJson(workflow), earlier };
  }

  /** Locks the workflow row until the transaction ends (one decision at a time per workflow). */
  async lockWorkflow(clientKey: string, pageId: string, macroId: string, trx: Knex.Transaction): Promise<Workflow | null> {
    const row = await trx<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey, page_id: pageId, macro_id: macroId }).forUpdate().first();
    return row ? toWorkflow(row) : null;
  }

  async lockWorkflowsOfPage(clientKey: string, pageId: string, trx: Knex.Transaction): Promise<Workflow[]> {
    const rows = await trx<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey, page_id: pageId }).orderBy('macro_id').forUpdate();
    return rows.map(toWorkflow);
  }

  /** Inserts unless another request created it first; returns null then. */
  async insertWorkflow(clientKey: string, wf: NewWorkflow, trx: Knex.Transaction): Promise<Workflow | null> {
    const rows = await trx<WorkflowRow>(WORKFLOWS)
      .insert({
        client_key: clientKey,
        page_id: wf.pageId,
        content_type: wf.contentType,
        macro_id: wf.macroId,
        title: wf.title,
        after_title: wf.after,
        page_position: wf.pagePosition?.position ?? null,
        page_macro_count: wf.pagePosition?.count ?? null,
        space_key: wf.spaceKey,
        page_title: wf.pageTitle,
        state: wf.state,
        rule: wf.rule,
        quorum: wf.quorum,
        rejections: wf.rejections,
        approvers: wf.approvers,
        groups: wf.groups,
        due_date: wf.dueDate,
        review_days: wf.reviewDays,
        bound_version: wf.boundVersion,
        body_hash: wf.bodyHash,
        bound_author_id: wf.boundAuthorId,
      })
      .onConflict(['client_key', 'page_id', 'macro_id'])
      .ignore()
      .returning('*');
    return rows.length ? toWorkflow(rows[0] as WorkflowRow) : null;
  }

  async updateWorkflow(clientKey: string, id: string, patch: WorkflowPatch, trx: Knex.Transaction): Promise<Workflow> {
    const row: Record<string, unknown> = { updated_at: trx.fn.now() };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      if (k === 'pagePosition') {
        const at = v as Workflow['pagePosition'];
        row.page_position = at?.position ?? null;
        row.page_macro_count = at?.count ?? null;
      } else row[COLUMN[k as keyof typeof COLUMN]] = v;
    }
    const [updated] = await trx<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey, id }).update(row).returning('*');
    return toWorkflow(updated as WorkflowRow);
  }

  /** The workflows on a page (no lock: to decide whether a page event concerns us at all). */
  async workflowsOfPage(clientKey: string, pageId: string): Promise<Workflow[]> {
    const rows = await this.db<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey, page_id: pageId }).orderBy('macro_id');
    return rows.map(toWorkflow);
  }

  /**
   * The workflows on these pages, unlocked, inside the caller's transaction: a decision's stage gate reads the
   * stages before it (after locking its own workflow, so an edit that resets the page waits for it or is seen).
   */
  async workflowsOfPages(clientKey: string, pageIds: string[], trx: Knex.Transaction): Promise<Workflow[]> {
    if (!pageIds.length) return [];
    const rows = await trx<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey }).whereIn('page_id', pageIds).orderBy([{ column: 'page_id' }, { column: 'macro_id' }]);
    return rows.map(toWorkflow);
  }

  /**
   * Marks the page's workflows as unreadable by the app since `since` (kept if already marked), or
   * readable again (`null`). Not audited: it is the app's view of Confluence, not a change of approval.
   * Returns how many rows changed (0 when nothing did, so a render writes nothing in the usual case).
   */
  async setAppUnreadable(clientKey: string, pageId: string, since: Date | null): Promise<number> {
    const q = this.db<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey, page_id: pageId });
    if (since) return q.whereNull('app_unreadable_since').update({ app_unreadable_since: since });
    return q.whereNotNull('app_unreadable_since').update({ app_unreadable_since: null });
  }

  /** Approved workflows whose review interval has passed at `now` (recertification). */
  async dueForExpiry(clientKey: string, now: Date): Promise<Workflow[]> {
    const rows = await this.db<WorkflowRow>(WORKFLOWS)
      .where({ client_key: clientKey, state: 'approved' })
      .whereNotNull('review_days')
      .whereNotNull('approved_at')
      .andWhereRaw(`approved_at + make_interval(days => review_days) <= ?`, [now])
      .orderBy('approved_at');
    return rows.map(toWorkflow);
  }

  /** Workflows that still take decisions (pending, outdated, expired), for reminders. */
  async openWorkflows(clientKey: string): Promise<Workflow[]> {
    const rows = await this.db<WorkflowRow>(WORKFLOWS)
      .where({ client_key: clientKey })
      .whereIn('state', OPEN_STATES)
      .orderBy('created_at');
    return rows.map(toWorkflow);
  }

  /** The current round's decisions of every open workflow of the tenant, oldest first: one query for reminders. */
  async currentDecisionsOfOpen(clientKey: string): Promise<Decision[]> {
    const rows = await this.db<DecisionRow>(`${DECISIONS} as d`)
      .join(`${WORKFLOWS} as w`, (j) => j.on('w.client_key', 'd.client_key').andOn('w.id', 'd.workflow_id').andOn('w.round', 'd.round'))
      .select('d.*')
      .where('d.client_key', clientKey)
      .whereIn('w.state', OPEN_STATES)
      .orderBy([{ column: 'd.decided_at' }, { column: 'd.id' }]);
    return (rows as DecisionRow[]).map(toDecision);
  }

  /** Every decision on a workflow, oldest first. */
  async decisionsOf(clientKey: string, workflowId: string, trx?: Knex.Transaction): Promise<Decision[]> {
    const rows = await (trx ?? this.db)<DecisionRow>(DECISIONS)
      .where({ client_key: clientKey, workflow_id: workflowId })
      .orderBy([{ column: 'decided_at' }, { column: 'id' }]);
    return rows.map(toDecision);
  }

  /** People in decisions (approvers, delegates) and workflows (approvers, the bound version's author). */
  async accountsStored(clientKey: string): Promise<StoredAccount[]> {
    const { rows } = await this.db.raw(
      `select approver_id as account_id, decided_at as at from ${DECISIONS} where client_key = :ck
       union all select delegate_id, decided_at from ${DECISIONS} where client_key = :ck and delegate_id is not null
       union all select unnest(approvers), updated_at from ${WORKFLOWS} where client_key = :ck
       union all select bound_author_id, updated_at from ${WORKFLOWS} where client_key = :ck and bound_author_id is not null`,
      { ck: clientKey },
    );
    return rows.map((r: { account_id: string; at: Date }) => ({ accountId: r.account_id, at: r.at }));
  }

  /** Decisions keep their comment and time under the marker; a workflow's approver or author becomes the marker. */
  async eraseAccount(clientKey: string, accountId: string, marker: string, trx: Knex.Transaction): Promise<number> {
    let n = 0;
    n += await trx(DECISIONS).where({ client_key: clientKey, approver_id: accountId }).update({ approver_id: marker });
    n += await trx(DECISIONS).where({ client_key: clientKey, delegate_id: accountId }).update({ delegate_id: marker });
    n += await trx(WORKFLOWS)
      .where({ client_key: clientKey })
      .whereRaw('? = any(approvers)', [accountId])
      .update({ approvers: trx.raw('array_replace(approvers, ?, ?)', [accountId, marker]) });
    n += await trx(WORKFLOWS).where({ client_key: clientKey, bound_author_id: accountId }).update({ bound_author_id: marker });
    return n;
  }

}
