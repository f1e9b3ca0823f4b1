import type { Knex } from 'knex';
import { OPEN_STATES, WorkflowState } from '../approvals/approval-rules';
import { DecisionRow, toDecision, toWorkflow, WorkflowRow } from '../approvals/workflow-rows';
import type { Decision, Workflow } from '../approvals/approvals-types';

const WORKFLOWS = 'workflows';
const DECISIONS = 'decisions';

/**
 * The dashboard's urgency order is a sequence of segments; within each, rows come from one ordered
 * index range (workflows_space_overdue_idx or workflows_space_dashboard_idx), so a page costs a few
 * index probes however many workflows the space has.
 */
export type SegmentKind = 'overdue' | 'open' | 'closed';
export interface Segment {
  key: string;
  kind: SegmentKind;
  states: WorkflowState[];
}

export const SEGMENTS: readonly Segment[] = [
  { key: 'overdue', kind: 'overdue', states: [...OPEN_STATES] },
  { key: 'expired', kind: 'open', states: ['expired'] },
  { key: 'outdated', kind: 'open', states: ['outdated'] },
  { key: 'pending', kind: 'open', states: ['pending'] },
  { key: 'rejected', kind: 'closed', states: ['rejected'] },
  { key: 'approved', kind: 'closed', states: ['approved'] },
  { key: 'archived', kind: 'closed', states: ['archived'] },
];

/** Where a page ended: the segment and the sort key of its last row (created_at at full µs precision). */
export interface SortKey {
  segment: number;
  due: string | null;
  created: string;
  id: string;
}

export interface DashboardRow {
  workflow: Workflow;
  key: SortKey;
}

interface PlannedSegment {
  index: number;
  segment: Segment;
  /** States of this segment that pass the filter. */
  states: WorkflowState[];
}

const CREATED_KEY = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

/** What the dashboard reads (the service depends on this, a fake can stand in for it). */
export type SpaceDashboardReads = Pick<SpaceDashboardStore, 'page' | 'counts' | 'workflowsOfPages' | 'decisionsOf'>;

export class SpaceDashboardStore {
  constructor(private readonly db: Knex) {}

  private segmentQuery(clientKey: string, spaceKey: string, today: string, seg: PlannedSegment, after: SortKey | null, limit: number) {
    const q = this.db(WORKFLOWS)
      .select('*', this.db.raw(CREATED_KEY))
      .where({ client_key: clientKey, space_key: spaceKey })
      .limit(limit);
    if (seg.states.length === 1) q.where('state', seg.states[0]);
    else q.whereIn('state', seg.states);
    switch (seg.segment.kind) {
      case 'overdue':
        q.where('due_date', '<', today);
        if (after) q.whereRaw('(due_date, created_at, id) > (?::date, ?::timestamptz, ?::uuid)', [after.due, after.created, after.id]);
        return q.orderBy([{ column: 'due_date' }, { column: 'created_at' }, { column: 'id' }]);
      case 'open':
        q.where((w) => w.whereNull('due_date').orWhere('due_date', '>=', today));
        if (after) q.whereRaw('(created_at, id) > (?::timestamptz, ?::uuid)', [after.created, after.id]);
        return q.orderBy([{ column: 'created_at' }, { column: 'id' }]);
      case 'closed':
        if (after) q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [after.created, after.id]);
        return q.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]);
    }
  }

  private plan(states: WorkflowState[] | 'overdue' | null): PlannedSegment[] {
    return SEGMENTS.map((segment, index) => ({
      index,
      segment,
      states:
        states === null ? segment.states : states === 'overdue' ? (segment.kind === 'overdue' ? segment.states : []) : segment.states.filter((s) => states.includes(s)),
    })).filter((p) => p.states.length > 0);
  }

  /**
   * Up to `limit` workflows of a space in urgency order after `after`, and whether more follow.
   * `today` (YYYY-MM-DD) decides what is overdue.
   */
  async page(
    clientKey: string,
    spaceKey: string,
    opts: { today: string; states: WorkflowState[] | 'overdue' | null; after: SortKey | null; limit: number },
  ): Promise<{ rows: DashboardRow[]; more: boolean }> {
    const rows: DashboardRow[] = [];
    for (const seg of this.plan(opts.states)) {
      if (opts.after && seg.index < opts.after.segment) continue;
      const after = opts.after && seg.index === opts.after.segment ? opts.after : null;
      const found = await this.segmentQuery(clientKey, spaceKey, opts.today, seg, after, opts.limit + 1 - rows.length);
      for (const r of found as Array<WorkflowRow & { created_key: string }>) {
        rows.push({
          workflow: toWorkflow(r),
          key: { segment: seg.index, due: seg.segment.kind === 'overdue' ? r.due_date : null, created: r.created_key, id: r.id },
        });
      }
      if (rows.length > opts.limit) break;
    }
    return { rows: rows.slice(0, opts.limit), more: rows.length > opts.limit };
  }

  /** The plans Postgres chooses for each segment query of a page (benchmarks and tests show the index). */
  async explain(clientKey: string, spaceKey: string, opts: { today: string; states: WorkflowState[] | 'overdue' | null; after: SortKey | null; limit: number }) {
    const out: Array<{ segment: string; plan: string }> = [];
    for (const seg of this.plan(opts.states)) {
      const after = opts.after && seg.index === opts.after.segment ? opts.after : null;
      const { sql, bindings } = this.segmentQuery(clientKey, spaceKey, opts.today, seg, after, opts.limit + 1).toSQL();
      const res = await this.db.raw(`EXPLAIN ${sql}`, bindings as never);
      out.push({ segment: seg.segment.key, plan: (res.rows as Array<{ 'QUERY PLAN': string }>).map((r) => r['QUERY PLAN']).join('\n') });
    }
    return out;
  }

  /** Workflows per state in a space, and how many open ones are overdue. */
  async counts(clientKey: string, spaceKey: string, today: string): Promise<Record<string, number>> {
    const rows = await this.db(WORKFLOWS)
      .select('state')
      .count<Array<{ state: string; count: number }>>('* as count')
      .where({ client_key: clientKey, space_key: spaceKey })
      .groupBy('state');
    const out: Record<string, number> = Object.fromEntries(rows.map((r) => [r.state, Number(r.count)]));
    const [overdue] = await this.db(WORKFLOWS)
      .count<Array<{ count: number }>>('* as count')
      .where({ client_key: clientKey, space_key: spaceKey })
      .whereIn('state', OPEN_STATES)
      .where('due_date', '<', today);
    out.overdue = Number(overdue.count);
    return out;
  }

  /** Every decision on these workflows, oldest first. */
  /** Every workflow on these pages (ordered stages: which stage is open, where each page stands). */
  async workflowsOfPages(clientKey: string, pageIds: string[]): Promise<Workflow[]> {
    if (!pageIds.length) return [];
    const rows = await this.db<WorkflowRow>(WORKFLOWS).where({ client_key: clientKey }).whereIn('page_id', [...new Set(pageIds)]);
    return (rows as WorkflowRow[]).map(toWorkflow);
  }

  async decisionsOf(clientKey: string, workflowIds: string[]): Promise<Decision[]> {
    if (!workflowIds.length) return [];
    const rows = await this.db(DECISIONS)
      .where({ client_key: clientKey })
      .whereIn('workflow_id', workflowIds)
      .orderBy([{ column: 'decided_at' }, { column: 'id' }]);
    return (rows as DecisionRow[]).map(toDecision);
  }
}
