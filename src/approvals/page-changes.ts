import type { ConfluencePage } from '../confluence/confluence-client';
import { sha256Hex } from '../lib/hash';
import { DAY_MS, WorkflowState } from './approval-rules';
import type { ApprovalsDeps, ApprovalsTx } from './approvals-ports';
import type { Workflow } from './approvals-types';
import { macroPosition } from './macro-position';
import { sequenceOf, stagePlace } from './stages';
import { followReason, titled, workflowRef } from './workflow-events';

type EditActor = { type: 'user' | 'confluence' | 'system'; accountId?: string | null };

/** What happens to a page's workflows when the page changes: a new version, a move, the trash, a lapsed review. */
export class PageChanges {
  constructor(private readonly deps: Pick<ApprovalsDeps, 'stores' | 'logger'>) {}

  /**
   * A page now has `page.version`: every workflow on it bound to an older version follows the space's
   * `resetOnEdit` policy. Content changed (or any edit, or never, by policy) → outdated with a new round;
   * otherwise rebound with its state kept. Idempotent: an older or equal version changes nothing.
   */
  async applyPageVersion(clientKey: string, pageId: string, page: ConfluencePage, actor: EditActor, cause: 'render' | 'webhook'): Promise<Workflow[]> {
    const bodyHash = sha256Hex(page.body);
    return this.deps.stores.transaction(async (tx) => {
      const workflows = await tx.workflows.lockWorkflowsOfPage(clientKey, pageId);
      const out: Workflow[] = [];
      const resets: Array<{ before: Workflow; after: Workflow }> = [];
      for (const wf of workflows) {
        if (page.version <= wf.boundVersion || wf.state === 'archived') {
          out.push(wf);
          continue;
        }
        const { updated, reset } = await followVersion(tx, clientKey, wf, { page, bodyHash, actor, cause });
        if (reset) resets.push({ before: wf, after: updated });
        out.push(updated);
      }
      await resetStages(tx, clientKey, resets, out, actor);
      return out;
    });
  }

  /**
   * The page now lives in `spaceKey`: every workflow on it follows, so the new space's policy decides, its
   * admins see and export it, and the old space's no longer do. One `workflow.moved` event each; a repeat
   * (or a workflow already there) changes nothing.
   */
  async followPageSpace(
    clientKey: string,
    pageId: string,
    spaceKey: string,
    actor: { type: 'user' | 'confluence'; accountId?: string | null },
    cause: 'render' | 'webhook' | 'decision',
  ): Promise<Workflow[]> {
    return this.deps.stores.transaction(async (tx) => {
      const out: Workflow[] = [];
      for (const wf of await tx.workflows.lockWorkflowsOfPage(clientKey, pageId)) {
        if (wf.spaceKey === spaceKey) {
          out.push(wf);
          continue;
        }
        const updated = await tx.workflows.updateWorkflow(clientKey, wf.id, { spaceKey });
        await tx.audit.append(clientKey, {
          action: 'workflow.moved',
          actor,
          ...workflowRef(updated),
          data: titled(updated, { fromSpace: wf.spaceKey, toSpace: spaceKey, cause }),
        });
        this.deps.logger.info({ clientKey, pageId, workflowId: wf.id, from: wf.spaceKey, to: spaceKey, cause }, 'workflow follows its page to another space');
        out.push(updated);
      }
      return out;
    });
  }

  /**
   * Recertification: approved workflows whose review interval (days since approval) has passed at
   * `now` become `expired` and need new decisions (a new round). One transaction and audit event each.
   * A stage's expiry applies to its whole sequence: every other stage of it starts a new round too (an
   * approved one becomes `expired`), with a `stage.reset` each, so the sequence is recertified from stage 1.
   */
  async expireDue(clientKey: string, now: Date): Promise<Workflow[]> {
    const expired: Workflow[] = [];
    for (const candidate of await this.deps.stores.workflows.dueForExpiry(clientKey, now)) {
      const wf = await this.deps.stores.transaction((tx) => expireOne(tx, clientKey, candidate, now));
      if (wf) expired.push(wf);
    }
    if (expired.length) this.deps.logger.info({ clientKey, expired: expired.length }, 'workflows expired for recertification');
    return expired;
  }
}

/**
 * The page was trashed or removed (`archive`: every workflow on it becomes `archived`, remembering its
 * state) or restored (archived workflows go back to the state they had). Runs in the caller's transaction
 * (the page-event inbox marks the event handled in the same one); a repeat changes nothing.
 */
export async function setPageArchived(
  tx: ApprovalsTx,
  clientKey: string,
  pageId: string,
  archive: boolean,
  actor: { type: 'confluence'; accountId?: string | null },
  cause: string,
): Promise<Workflow[]> {
  const changed: Workflow[] = [];
  for (const wf of await tx.workflows.lockWorkflowsOfPage(clientKey, pageId)) {
    if ((wf.state === 'archived') === archive) continue;
    const state: WorkflowState = archive ? 'archived' : wf.stateBeforeArchive ?? 'pending';
    const updated = await tx.workflows.updateWorkflow(clientKey, wf.id, { state, stateBeforeArchive: archive ? wf.state : null });
    await tx.audit.append(
      clientKey,
      archive
        ? { action: 'workflow.archived', actor, ...workflowRef(updated), data: titled(updated, { previousState: wf.state, cause }) }
        : { action: 'workflow.restored', actor, ...workflowRef(updated), data: titled(updated, { state, cause }) },
    );
    changed.push(updated);
  }
  return changed;
}

/** One workflow bound to an older version follows `page` under its space's reset policy (outdated or rebound). */
async function followVersion(
  tx: ApprovalsTx,
  clientKey: string,
  wf: Workflow,
  edit: { page: ConfluencePage; bodyHash: string; actor: EditActor; cause: 'render' | 'webhook' },
): Promise<{ updated: Workflow; reset: boolean }> {
  const { page, bodyHash } = edit;
  const policy = await tx.policies.policyFor(clientKey, wf.spaceKey);
  const contentChanged = bodyHash !== wf.bodyHash;
  // A pending round nobody has decided in has nothing to lose: it follows the page and stays pending.
  const undecided = wf.state === 'pending' && !(await tx.workflows.decisionsOf(clientKey, wf.id)).some((d) => d.round === wf.round);
  const reset = !undecided && (policy.resetOnEdit === 'any' || (policy.resetOnEdit === 'content' && contentChanged));
  const base = {
    boundVersion: page.version,
    bodyHash,
    boundAuthorId: page.versionAuthorId,
    pageTitle: page.title || wf.pageTitle,
    pagePosition: macroPosition(page.body, wf.macroId) ?? wf.pagePosition,
  };
  const updated = await tx.workflows.updateWorkflow(clientKey, wf.id, reset ? { ...base, state: 'outdated', round: wf.round + 1, approvedAt: null, expiresAt: null } : base);
  await tx.audit.append(clientKey, {
    action: reset ? 'workflow.outdated' : 'workflow.rebound',
    actor: edit.actor.type === 'system' ? { type: 'system' } : edit.actor,
    ...workflowRef(updated),
    data: titled(updated, {
      fromVersion: wf.boundVersion,
      toVersion: page.version,
      contentChanged,
      resetOnEdit: policy.resetOnEdit,
      previousState: wf.state,
      cause: edit.cause,
      reason: followReason(reset, contentChanged, undecided),
    }),
  });
  return { updated, reset };
}

/** Ordered stages: every stage the edit reset goes back to the start of the sequence, which opens at stage 1. */
async function resetStages(tx: ApprovalsTx, clientKey: string, resets: Array<{ before: Workflow; after: Workflow }>, out: Workflow[], actor: EditActor): Promise<void> {
  for (const { before, after } of resets) {
    const place = stagePlace(after, out);
    if (!place) continue;
    await tx.audit.append(clientKey, {
      action: 'stage.reset',
      actor: actor.type === 'system' ? { type: 'system' } : actor,
      ...workflowRef(after),
      data: titled(after, {
        stage: place,
        previousRound: before.round,
        round: after.round,
        cause: 'edit',
        reason: place.position === 1 ? 'the page content changed: the sequence starts again here' : `the page content changed: the sequence starts again, and this stage opens after ${place.after}`,
      }),
    });
  }
}

/** One approved workflow whose review lapsed becomes `expired`, and its stage sequence starts again; null when it no longer is due. */
async function expireOne(tx: ApprovalsTx, clientKey: string, candidate: Workflow, now: Date): Promise<Workflow | null> {
  // The page's workflows, locked in the order every page-wide change takes them: a stage's expiry resets its sequence.
  const onPage = await tx.workflows.lockWorkflowsOfPage(clientKey, candidate.pageId);
  const locked = onPage.find((w) => w.id === candidate.id);
  if (!locked || locked.state !== 'approved' || !locked.approvedAt || !locked.reviewDays) return null;
  if (locked.approvedAt.getTime() + locked.reviewDays * DAY_MS > now.getTime()) return null;
  const updated = await tx.workflows.updateWorkflow(clientKey, locked.id, { state: 'expired', round: locked.round + 1, expiresAt: null });
  await tx.audit.append(clientKey, {
    action: 'workflow.expired',
    actor: { type: 'system' },
    ...workflowRef(updated),
    data: titled(updated, {
      approvedAt: locked.approvedAt.toISOString(),
      reviewDays: locked.reviewDays,
      previousRound: locked.round,
      round: updated.round,
      reason: `the review interval of ${locked.reviewDays} days since approval has passed`,
    }),
  });
  await resetSequence(tx, clientKey, locked, updated, onPage);
  return updated;
}

/** After `locked` expired (now `updated`): every stage of its sequence starts a new round, each with a `stage.reset`. */
async function resetSequence(tx: ApprovalsTx, clientKey: string, locked: Workflow, updated: Workflow, onPage: Workflow[]): Promise<void> {
  for (const stage of sequenceOf(locked, onPage) ?? []) {
    if (stage.state === 'archived') continue;
    const again =
      stage.id === locked.id
        ? updated
        : await tx.workflows.updateWorkflow(clientKey, stage.id, {
            state: stage.state === 'approved' || stage.state === 'rejected' ? 'expired' : stage.state,
            round: stage.round + 1,
            approvedAt: null,
            expiresAt: null,
          });
    await tx.audit.append(clientKey, {
      action: 'stage.reset',
      actor: { type: 'system' },
      ...workflowRef(again),
      data: titled(again, {
        stage: stagePlace(stage, onPage)!,
        previousRound: stage.round,
        round: again.round,
        cause: 'expiry',
        reason: `the approval of ${locked.title ?? 'a stage'} lapsed after ${locked.reviewDays} days: the whole sequence is recertified from stage 1`,
      }),
    });
  }
}
