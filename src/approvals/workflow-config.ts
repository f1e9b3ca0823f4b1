import type { ConfluencePage } from '../confluence/confluence-client';
import type { Principal } from '../confluence/connect-auth';
import { ConflictError, InputError } from '../lib/errors';
import { sha256Hex } from '../lib/hash';
import { DAY_MS, evaluate, OPEN_STATES } from './approval-rules';
import type { ApprovalsDeps, ApprovalsTx } from './approvals-ports';
import type { MacroParams } from './approvals-view-types';
import type { Workflow, WorkflowConfig } from './approvals-types';
import { macroPosition } from './macro-position';
import type { SpacePolicy } from './space-policy';
import { stageGate, stagePlace } from './stages';
import { settled, stageEvents, titled, workflowRef } from './workflow-events';

/** A workflow's configuration from its macro: created on the first render, changed when the parameters change. */
export class WorkflowSetup {
  constructor(private readonly deps: Pick<ApprovalsDeps, 'stores' | 'clock'>) {}

  /**
   * The macro's parameters, each empty one from the space's defaults. `startedAt`: when the workflow started (its
   * creation), which the default due date counts from — now for a workflow about to be created. Counted from the
   * day of each render instead, it moved a day further with every day someone viewed the page, and every move was a
   * `workflow.configured` event. (A workflow created within the clock difference of app and database around
   * midnight UTC gets its due date moved once by a day, on its next render.)
   */
  configFrom(params: MacroParams, policy: SpacePolicy, startedAt: Date = this.deps.clock.now()): WorkflowConfig {
    const d = policy.defaults;
    const rule = params.rule ?? d.rule;
    const dueDate = params.due ?? (d.dueOffsetDays !== null ? new Date(startedAt.getTime() + d.dueOffsetDays * DAY_MS).toISOString().slice(0, 10) : null);
    if (params.after !== null && params.after === params.title) {
      throw new InputError(`After names this macro's own title (“${params.title}”): a stage waits for another Approvals macro on the page.`);
    }
    return {
      title: params.title,
      after: params.after,
      rule,
      quorum: rule === 'quorum' ? params.quorum ?? d.quorum ?? 1 : null,
      rejections: params.rejections ?? d.rejections,
      approvers: params.approvers.length ? params.approvers : d.approvers,
      groups: params.groups.length ? params.groups : d.groups,
      dueDate,
      reviewDays: params.review ?? d.reviewDays,
    };
  }

  async create(p: Principal, params: MacroParams, config: WorkflowConfig, page: ConfluencePage): Promise<Workflow> {
    return this.deps.stores.transaction(async (tx) => {
      const inserted = await tx.workflows.insertWorkflow(p.clientKey, {
        pageId: params.pageId,
        contentType: params.contentType,
        macroId: params.macroId,
        pagePosition: macroPosition(page.body, params.macroId),
        spaceKey: params.spaceKey,
        pageTitle: page.title,
        state: 'pending',
        ...config,
        boundVersion: page.version,
        bodyHash: sha256Hex(page.body),
        boundAuthorId: page.versionAuthorId,
      });
      if (!inserted) {
        // Another request created it a moment ago.
        const existing = await tx.workflows.findWorkflow(p.clientKey, params.pageId, params.macroId);
        if (!existing) throw new ConflictError('The workflow is being created: reload.');
        return existing;
      }
      await recordCreated(tx, p, inserted);
      return inserted;
    });
  }

  async reconfigure(p: Principal, wf: Workflow, config: WorkflowConfig): Promise<Workflow> {
    return this.deps.stores.transaction(async (tx) => {
      const locked = await tx.workflows.lockWorkflow(p.clientKey, wf.pageId, wf.macroId);
      if (!locked || !configChanged(locked, config)) return locked ?? wf;
      const [beforeRefs, afterRefs] = [await tx.audit.refs(p.clientKey, locked.approvers), await tx.audit.refs(p.clientKey, config.approvers)];
      // A stricter or looser rule can settle an open workflow at once.
      let patch: Partial<Workflow> = { ...config };
      if (OPEN_STATES.includes(locked.state)) {
        const decisions = await tx.workflows.decisionsOf(p.clientKey, locked.id);
        const outcome = evaluate(config, decisions.filter((d) => d.round === locked.round));
        patch = { ...patch, ...settled(outcome, config.reviewDays, this.deps.clock.now()) };
      }
      const updated = await tx.workflows.updateWorkflow(p.clientKey, locked.id, patch);
      await tx.audit.append(p.clientKey, {
        action: 'workflow.configured',
        actor: { type: 'user', accountId: p.accountId },
        ...workflowRef(updated),
        data: titled(updated, { before: auditConfig(locked, beforeRefs), after: auditConfig(updated, afterRefs), state: updated.state }),
      });
      if (updated.state !== locked.state && (updated.state === 'approved' || updated.state === 'rejected')) await recordSettled(tx, p, updated);
      return updated;
    });
  }
}

/** `workflow.created`, and `stage.opened` for a later stage first rendered after the stages before it were approved. */
async function recordCreated(tx: ApprovalsTx, p: Principal, inserted: Workflow): Promise<void> {
  const approverRefs = await tx.audit.refs(p.clientKey, inserted.approvers);
  await tx.audit.append(p.clientKey, {
    action: 'workflow.created',
    actor: { type: 'user', accountId: p.accountId },
    ...workflowRef(inserted),
    data: titled(inserted, { macroId: inserted.macroId, config: auditConfig(inserted, approverRefs) }),
  });
  if (inserted.after === null) return;
  const page = await tx.workflows.workflowsOfPages(p.clientKey, [inserted.pageId]);
  const place = stagePlace(inserted, page);
  if (place && stageGate(inserted, page) === null) {
    await tx.audit.append(p.clientKey, {
      action: 'stage.opened',
      actor: { type: 'user', accountId: p.accountId },
      ...workflowRef(inserted),
      data: titled(inserted, { stage: place, round: inserted.round }),
    });
  }
}

/** A configuration change settled the workflow: its outcome and the stage events that follow. */
async function recordSettled(tx: ApprovalsTx, p: Principal, updated: Workflow): Promise<void> {
  await tx.audit.append(p.clientKey, {
    action: updated.state === 'approved' ? 'workflow.approved' : 'workflow.rejected',
    actor: { type: 'user', accountId: p.accountId },
    ...workflowRef(updated),
    data: titled(updated, { round: updated.round, cause: 'configuration changed' }),
  });
  const page = (await tx.workflows.workflowsOfPages(p.clientKey, [updated.pageId])).map((w) => (w.id === updated.id ? updated : w));
  for (const e of stageEvents(updated, page, { type: 'user', accountId: p.accountId })) await tx.audit.append(p.clientKey, e);
}

export function auditConfig(wf: WorkflowConfig, approverRefs: string[]) {
  return {
    title: wf.title,
    // Only a stage names the stage it waits for: the configuration of other workflows keeps its earlier shape.
    ...(wf.after !== null ? { after: wf.after } : {}),
    rule: wf.rule,
    quorum: wf.quorum,
    rejections: wf.rejections,
    approvers: approverRefs,
    groups: wf.groups,
    due: wf.dueDate,
    reviewDays: wf.reviewDays,
  };
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function configChanged(wf: Workflow, c: WorkflowConfig): boolean {
  return (
    wf.title !== c.title ||
    wf.after !== c.after ||
    wf.rule !== c.rule ||
    wf.quorum !== c.quorum ||
    wf.rejections !== c.rejections ||
    !sameList(wf.approvers, c.approvers) ||
    !sameList(wf.groups, c.groups) ||
    wf.dueDate !== c.dueDate ||
    wf.reviewDays !== c.reviewDays
  );
}
