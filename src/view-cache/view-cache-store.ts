import type { Knex } from 'knex';
import { decisionOfJson, revive, workflowOfJson, type DecisionRow, type WorkflowRow } from '../approvals/workflow-rows';
import type { Decision, Workflow } from '../approvals/approvals-types';
import { type Delegation, type DelegationRow, toDelegation } from '../approvals/delegation';

/** What a macro render reads from the database about one macro, as stored (the space's settings unnormalised). */
export interface StoredRenderRows {
  spaceSettings: unknown | null;
  workflow: Workflow | null;
  decisions: Decision[];
  /** The tenant's delegations nobody ended and not lapsed (issue 16): few, and a render must not query for them. */
  delegations?: Delegation[];
  /** Every workflow on the page (ordered stages show where the page's sequence stands). */
  pageWorkflows: Workflow[];
}


export class ViewCacheStore {
  constructor(private readonly db: Knex) {}

  /**
   * The tenant's delegations nobody ended and that have not lapsed before `today` (UTC day, as the readers compare):
   * few (the cache keeps them per tenant), since a lapsed one is never active again and lapsed ones only grow in number.
   */
  async openDelegations(clientKey: string, today: string): Promise<Delegation[]> {
    const rows = await this.db<DelegationRow>('delegations').where({ client_key: clientKey }).whereNull('ended_at').where('ends_on', '>=', today).orderBy('id');
    return rows.map(toDelegation);
  }

  /** The space's settings as stored (normalised by the cache), or null. */
  async spaceSettings(clientKey: string, spaceKey: string): Promise<unknown | null> {
    const row = await this.db('space_settings').where({ client_key: clientKey, space_key: spaceKey }).first('settings');
    return row ? (row as { settings: unknown }).settings : null;
  }

  /**
   * The space's settings row, the macro's workflow and its decisions (oldest first) in one statement, with the
   * tenant's delegations as `openDelegations` reads them for `today`.
   */
  async renderRows(clientKey: string, spaceKey: string, pageId: string, macroId: string, today: string): Promise<StoredRenderRows> {
    const { rows } = await this.db.raw(
      `SELECT
         (SELECT s.settings FROM space_settings s WHERE s.client_key = :ck AND s.space_key = :sk) AS settings,
         (SELECT to_jsonb(w) FROM workflows w WHERE w.client_key = :ck AND w.page_id = :pid AND w.macro_id = :mid) AS workflow,
         (SELECT coalesce(json_agg(d ORDER BY d.decided_at, d.id), '[]'::json)
            FROM workflows w JOIN decisions d ON d.client_key = w.client_key AND d.workflow_id = w.id
           WHERE w.client_key = :ck AND w.page_id = :pid AND w.macro_id = :mid) AS decisions,
         (SELECT coalesce(json_agg(g ORDER BY g.id), '[]'::json)
            FROM delegations g WHERE g.client_key = :ck AND g.ended_at IS NULL AND g.ends_on >= :today::date) AS delegations,
         (SELECT coalesce(json_agg(to_jsonb(w) ORDER BY w.macro_id), '[]'::json)
            FROM workflows w WHERE w.client_key = :ck AND w.page_id = :pid) AS page_workflows`,
      { ck: clientKey, sk: spaceKey, pid: pageId, mid: macroId, today },
    );
    const r = rows[0] as { settings: unknown | null; workflow: WorkflowRow | null; decisions: DecisionRow[]; delegations: Array<Record<string, unknown>>; page_workflows: WorkflowRow[] };
    const workflowOf = (w: WorkflowRow) => workflowOfJson(w as unknown as Record<string, unknown>);
    return {
      spaceSettings: r.settings ?? null,
      workflow: r.workflow ? workflowOf(r.workflow) : null,
      decisions: r.decisions.map((d) => decisionOfJson(d as unknown as Record<string, unknown>)),
      delegations: r.delegations.map((g) => toDelegation(revive(g, ['ended_at', 'created_at', 'updated_at']) as unknown as DelegationRow)),
      pageWorkflows: r.page_workflows.map(workflowOf),
    };
  }
}
