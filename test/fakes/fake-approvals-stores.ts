import { randomUUID } from 'node:crypto';
import type { AuditEventInput } from '../../src/audit/audit-log';
import { OPEN_STATES } from '../../src/approvals/approval-rules';
import {
  ApprovalsStores,
  ApprovalsTx,
  DecisionBatchTx,
  DecisionChange,
  DecisionRequest,
  NewWorkflow,
  requestKey,
  WorkflowPatch,
  WorkflowReads,
  WorkflowWrites,
} from '../../src/approvals/approvals-ports';
import type { Decision, Workflow } from '../../src/approvals/approvals-types';
import { DEFAULT_POLICY, SpacePolicy, SpacePolicyProvider } from '../../src/approvals/space-policy';
import { FakeAudit } from './fake-audit';

interface Rows {
  workflows: Workflow[];
  decisions: Decision[];
  requests: Array<{ clientKey: string; workflowId: string; idempotencyKey: string; requestHash: string; decisionId: number }>;
  nextDecisionId: number;
}

const byMacro = (a: Workflow, b: Workflow) => (a.pageId === b.pageId ? (a.macroId < b.macroId ? -1 : 1) : a.pageId < b.pageId ? -1 : 1);
const byTime = (a: Decision, b: Decision) => a.decidedAt.getTime() - b.decidedAt.getTime() || a.id - b.id;
const copy = <T>(x: T): T => structuredClone(x);

/**
 * The approvals stores in memory, as the service sees them: reads, and transactions whose writes (and audit
 * events) are kept when the work resolves and thrown away when it throws. Locks are not modelled: a unit test
 * runs one transaction at a time. `statements` counts the calls, like the database would count statements.
 */
export class FakeApprovalsStores implements ApprovalsStores {
  rows: Rows = { workflows: [], decisions: [], requests: [], nextDecisionId: 1 };
  private headLock: Promise<void> = Promise.resolve();
  readonly audit = new FakeAudit();
  readonly spacePolicies = new Map<string, SpacePolicy>();
  readonly policies: SpacePolicyProvider = { policyFor: async (_ck, spaceKey) => this.spacePolicies.get(spaceKey) ?? DEFAULT_POLICY };
  transactions = 0;
  readonly workflows: WorkflowReads = this.readsOf(() => this.rows);

  constructor(private readonly now: () => Date = () => new Date()) {}

  async transaction<T>(work: (tx: ApprovalsTx) => Promise<T>): Promise<T> {
    this.transactions++;
    const working = copy(this.rows);
    const pending: AuditEventInput[] = [];
    const result = await work({ workflows: this.writesOf(working), audit: this.audit.in(pending), policies: this.policies });
    this.rows = working;
    this.audit.commit(pending);
    return result;
  }

  /**
   * Like the real one, a batch keeps its writes only when it committed them (`writeAndCommit`), and its
   * `lockAndRead` waits for the batch before it to end, as the tenant's audit head lock makes it wait.
   */
  async decisionBatch<T>(work: (tx: DecisionBatchTx) => Promise<T>): Promise<T> {
    this.transactions++;
    const held = { release: () => undefined as void };
    try {
      return await work(this.batchOf(held));
    } finally {
      held.release();
    }
  }

  /** Puts a workflow in place as a test's starting point. */
  seed(wf: Partial<Workflow> & Pick<Workflow, 'pageId' | 'macroId'>): Workflow {
    const row: Workflow = { ...defaults(this.now()), id: randomUUID(), ...wf };
    this.rows.workflows.push(row);
    return copy(row);
  }

  decisionsOf(workflowId: string): Decision[] {
    return this.rows.decisions.filter((d) => d.workflowId === workflowId).sort(byTime);
  }

  workflow(id: string): Workflow {
    return copy(this.rows.workflows.find((w) => w.id === id)!);
  }

  private readsOf(rows: () => Rows): WorkflowReads {
    const wfs = (ck: string) => rows().workflows.filter((w) => w.clientKey === ck);
    return {
      findWorkflow: async (ck, pageId, macroId) => copy(wfs(ck).find((w) => w.pageId === pageId && w.macroId === macroId) ?? null),
      workflowsOfPage: async (ck, pageId) => copy(wfs(ck).filter((w) => w.pageId === pageId).sort(byMacro)),
      decisionsOf: async (_ck, id) => copy(rows().decisions.filter((d) => d.workflowId === id).sort(byTime)),
      findWorkflowAndRequest: async (ck, pageId, macroId, key) => {
        const workflow = wfs(ck).find((w) => w.pageId === pageId && w.macroId === macroId);
        return workflow ? { workflow: copy(workflow), earlier: requestOf(rows(), ck, workflow.id, key) } : null;
      },
      setAppUnreadable: async (ck, pageId, since) => {
        const hit = wfs(ck).filter((w) => w.pageId === pageId && (since ? w.appUnreadableSince === null : w.appUnreadableSince !== null));
        for (const w of hit) w.appUnreadableSince = since;
        return hit.length;
      },
      dueForExpiry: async (ck, now) =>
        copy(wfs(ck).filter((w) => w.state === 'approved' && w.reviewDays && w.approvedAt && w.approvedAt.getTime() + w.reviewDays * 86_400_000 <= now.getTime())),
      openWorkflows: async (ck) => copy(wfs(ck).filter((w) => OPEN_STATES.includes(w.state))),
      currentDecisionsOfOpen: async (ck) => {
        const open = new Map(wfs(ck).filter((w) => OPEN_STATES.includes(w.state)).map((w) => [w.id, w.round]));
        return copy(rows().decisions.filter((d) => open.get(d.workflowId) === d.round).sort(byTime));
      },
    };
  }

  private writesOf(rows: Rows): WorkflowWrites {
    const reads = this.readsOf(() => rows);
    const wfs = (ck: string) => rows.workflows.filter((w) => w.clientKey === ck);
    const now = this.now;
    return {
      findWorkflow: reads.findWorkflow,
      decisionsOf: reads.decisionsOf,
      lockWorkflow: reads.findWorkflow,
      lockWorkflowsOfPage: reads.workflowsOfPage,
      workflowsOfPages: async (ck, pageIds) => copy(wfs(ck).filter((w) => pageIds.includes(w.pageId)).sort(byMacro)),
      insertWorkflow: async (ck, wf: NewWorkflow) => {
        if (wfs(ck).some((w) => w.pageId === wf.pageId && w.macroId === wf.macroId)) return null;
        const row: Workflow = { ...defaults(now()), ...wf, clientKey: ck, id: randomUUID() };
        rows.workflows.push(row);
        return copy(row);
      },
      updateWorkflow: async (ck, id, patch: WorkflowPatch) => {
        const row = wfs(ck).find((w) => w.id === id)!;
        for (const [k, v] of Object.entries(patch)) if (v !== undefined) (row as unknown as Record<string, unknown>)[k] = v;
        row.updatedAt = now();
        return copy(row);
      },
    };
  }

  /** A batch of decisions on a copy of the rows taken once it holds the lock; every person's ref is `ref:<accountId>`. */
  private batchOf(held: { release(): void }): DecisionBatchTx {
    let rows = this.rows;
    const pending: AuditEventInput[] = [];
    const wfs = (ck: string) => rows.workflows.filter((w) => w.clientKey === ck);
    return {
      lockAndRead: async (ck, q) => {
        const before = this.headLock;
        this.headLock = new Promise((resolve) => (held.release = resolve));
        await before;
        rows = copy(this.rows);
        const workflows = copy(wfs(ck).filter((w) => q.macros.some((m) => m.pageId === w.pageId && m.macroId === w.macroId)).sort(byMacro));
        const ids = workflows.map((w) => w.id);
        const decisions = new Map(ids.map((id) => [id, copy(rows.decisions.filter((d) => d.workflowId === id).sort(byTime))]));
        const requests = new Map<string, DecisionRequest>();
        for (const r of rows.requests.filter((r) => r.clientKey === ck && ids.includes(r.workflowId) && q.idempotencyKeys.includes(r.idempotencyKey))) {
          requests.set(requestKey(r.workflowId, r.idempotencyKey), requestOf(rows, ck, r.workflowId, r.idempotencyKey)!);
        }
        const pageWorkflows = copy(wfs(ck).filter((w) => q.pageIds.includes(w.pageId)).sort(byMacro));
        return { workflows, decisions, requests, pageWorkflows, refs: new Map(q.people.map((id) => [id, `ref:${id}`])) };
      },
      writeAndCommit: async (ck, w, sending) => {
        if (!w.events.length) throw new Error('audit event: nothing to append');
        sending?.();
        const inserted = w.decisions.map((d) => ({ ...copy(d), id: rows.nextDecisionId++ }));
        rows.decisions.push(...inserted);
        for (const { decision, ...r } of w.requests) {
          const workflowId = inserted[decision].workflowId;
          if (rows.requests.some((x) => x.clientKey === ck && x.workflowId === workflowId && x.idempotencyKey === r.idempotencyKey)) throw new Error('duplicate key');
          rows.requests.push({ clientKey: ck, workflowId, decisionId: inserted[decision].id, ...r });
        }
        pending.push(...w.events);
        const workflows = w.changes.map((c: DecisionChange) => {
          const row = wfs(ck).find((x) => x.id === c.id)!;
          row.lastDecisionAt = c.lastDecisionAt;
          if (c.settled) Object.assign(row, c.settled);
          return copy(row);
        });
        this.rows = rows;
        this.audit.commit(pending);
        return { decisionIds: inserted.map((d) => d.id), workflows };
      },
    };
  }
}

function requestOf(rows: Rows, ck: string, workflowId: string, key: string): DecisionRequest | null {
  const r = rows.requests.find((x) => x.clientKey === ck && x.workflowId === workflowId && x.idempotencyKey === key);
  if (!r) return null;
  return { idempotencyKey: r.idempotencyKey, requestHash: r.requestHash, decision: copy(rows.decisions.find((d) => d.id === r.decisionId)!) };
}

function defaults(now: Date): Workflow {
  return {
    id: '',
    clientKey: 'tenant-a',
    pageId: '',
    contentType: 'page',
    macroId: '',
    title: null,
    after: null,
    pagePosition: null,
    spaceKey: 'ENG',
    pageTitle: 'Runbook',
    state: 'pending',
    stateBeforeArchive: null,
    rule: 'all',
    quorum: null,
    rejections: 1,
    approvers: [],
    groups: [],
    dueDate: null,
    reviewDays: null,
    boundVersion: 3,
    bodyHash: null,
    boundAuthorId: 'acc-author',
    round: 1,
    approvedAt: null,
    expiresAt: null,
    lastDecisionAt: null,
    appUnreadableSince: null,
    createdAt: now,
    updatedAt: now,
  };
}
