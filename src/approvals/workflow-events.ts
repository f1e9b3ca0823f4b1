import type { AuditEventInput } from '../audit/audit-log';
import { DAY_MS, Outcome } from './approval-rules';
import type { Workflow } from './approvals-types';
import { stageGate, stagePlace, StagePlace, sequenceOf, sequenceState, successors } from './stages';

/** What the audit events of a workflow carry, and what a settled outcome changes: pure, no I/O. */

/** What a settled outcome changes on a workflow: its state, and when an approval was given and lapses. */
export function settled(outcome: Outcome, reviewDays: number | null, now: Date): Partial<Workflow> {
  if (outcome.result === 'open') return {};
  const approved = outcome.result === 'approved';
  return {
    state: outcome.result,
    approvedAt: approved ? now : null,
    expiresAt: approved && reviewDays ? new Date(now.getTime() + reviewDays * DAY_MS) : null,
  };
}

/** The space, page and workflow an audit event about this workflow names. */
export function workflowRef(wf: Workflow) {
  return { spaceKey: wf.spaceKey, page: pageRef(wf), workflowId: wf.id };
}

/**
 * An event's data with the workflow's macro title (`workflowTitle`) when it has one, so every event of a titled
 * workflow names it and the evidence CSV's `workflow_title` column can show it from the canonical text.
 */
export function titled<T extends object>(wf: Workflow, data: T): T & { workflowTitle?: string } {
  return wf.title ? { ...data, workflowTitle: wf.title } : data;
}

/** An event's data with the workflow's place among its page's stages, when it is one (the CSV's `stage`). */
export function staged<T extends object>(place: StagePlace | null, data: T): T & { stage?: StagePlace } {
  return place ? { ...data, stage: place } : data;
}

/**
 * The stage events that follow a workflow settling (`wf` as it is now, `page` the workflows on its page as they
 * are now): `stage.approved` and `stage.opened` for each stage that opens with it, or `stage.rejected`. None for
 * a workflow that is not a stage.
 */
export function stageEvents(wf: Workflow, page: readonly Workflow[], actor: AuditEventInput['actor']): AuditEventInput[] {
  const place = stagePlace(wf, page);
  if (!place || (wf.state !== 'approved' && wf.state !== 'rejected')) return [];
  if (wf.state === 'rejected') return [{ action: 'stage.rejected', actor, ...workflowRef(wf), data: titled(wf, { stage: place, round: wf.round }) }];
  const opening = successors(wf, page).filter((n) => stageGate(n, page) === null);
  const seq = sequenceOf(wf, page)!;
  const events: AuditEventInput[] = [
    {
      action: 'stage.approved',
      actor,
      ...workflowRef(wf),
      data: titled(wf, { stage: place, round: wf.round, next: opening[0]?.title ?? null, sequenceApproved: sequenceState(seq).result === 'approved' }),
    },
  ];
  for (const next of opening) {
    events.push({ action: 'stage.opened', actor, ...workflowRef(next), data: titled(next, { stage: stagePlace(next, page)!, round: next.round }) });
  }
  return events;
}

function pageRef(wf: Workflow) {
  return { id: wf.pageId, version: wf.boundVersion, title: wf.pageTitle, bodyHash: wf.bodyHash };
}

/** Why a workflow was outdated or rebound by a new page version, in words for the audit trail. */
export function followReason(reset: boolean, contentChanged: boolean, undecided: boolean): string {
  if (reset) return contentChanged ? 'the page content changed: decisions for the old version no longer count' : 'the space resets approvals on any edit';
  if (!contentChanged) return 'only the title or metadata changed: the approved content is the same';
  return undecided ? 'nobody had decided in this round yet: the workflow follows the new version' : 'the space keeps approvals on edits';
}
