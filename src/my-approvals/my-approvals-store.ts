import type { Knex } from 'knex';
import { OPEN_STATES } from '../approvals/approval-rules';
import { DecisionRow, toDecision, toWorkflow, WorkflowRow } from '../approvals/workflow-rows';
import type { Decision, Workflow } from '../approvals/approvals-types';

const WORKFLOWS = 'workflows';
const DECISIONS = 'decisions';

/** What My approvals reads (the service depends on this, a fake can stand in for it). */
export type MyApprovalsReads = Pick<MyApprovalsStore, 'openFor' | 'workflowsOfPages' | 'currentDecisions'>;

export class MyApprovalsStore {
  constructor(private readonly db: Knex) {}

  /**
   * Open workflows of the tenant that list this person or one of these groups and on which the person
   * has not decided in the current round (served by the partial GIN indexes on approvers and groups).
   */
  async openFor(clientKey: string, accountId: string, groups: string[], limit: number): Promise<Workflow[]> {
    const rows = await this.db<WorkflowRow>(`${WORKFLOWS} as w`)
      .select('w.*')
      .where('w.client_key', clientKey)
      .whereIn('w.state', OPEN_STATES)
      .where((q) => {
        q.whereRaw('w.approvers @> ARRAY[?]::text[]', [accountId]);
        if (groups.length) q.orWhereRaw('w.groups && ?::text[]', [groups]);
      })
      .whereNotExists(
        this.db(`${DECISIONS} as d`)
          .select(this.db.raw('1'))
          .whereRaw('d.client_key = w.client_key AND d.workflow_id = w.id AND d.round = w.round')
          .where('d.approver_id', accountId),
      )
      .orderByRaw('w.due_date ASC NULLS LAST, w.created_at ASC, w.id ASC')
      .limit(limit);
    return (rows as WorkflowRow[]).map(toWorkflow);
  }

  /** Every workflow on these pages (ordered stages: which stage is open, where each page stands). */
  async workflowsOfPages(clientKey: string, pageIds: string[]): Promise<Workflow[]> {
    if (!pageIds.length) return [];
    const rows = await this.db<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey }).whereIn('page_id', [...new Set(pageIds)]);
    return (rows as WorkflowRow[]).map(toWorkflow);
  }

  /** Decisions of the current round of each workflow. */
  async currentDecisions(clientKey: string, workflows: Workflow[]): Promise<Decision[]> {
    if (!workflows.length) return [];
    const rows = await this.db(`${DECISIONS} as d`)
      .join(`${WORKFLOWS} as w`, (j) => j.on('w.client_key', 'd.client_key').andOn('w.id', 'd.workflow_id').andOn('w.round', 'd.round'))
      .select('d.*')
      .where('d.client_key', clientKey)
      .whereIn('d.workflow_id', workflows.map((w) => w.id))
      .orderBy([{ column: 'd.decided_at' }, { column: 'd.id' }]);
    return (rows as DecisionRow[]).map(toDecision);
  }
}
