import type { ConfluenceClient } from '../confluence/confluence-client';
import type { WorkflowView } from './approvals-service';

const STATE_LABEL: Record<string, { label: string; tone: string }> = {
  pending: { label: 'Pending', tone: 'inprogress' },
  approved: { label: 'Approved', tone: 'success' },
  rejected: { label: 'Rejected', tone: 'removed' },
  outdated: { label: 'Outdated', tone: 'moved' },
  expired: { label: 'Expired', tone: 'moved' },
  archived: { label: 'Archived', tone: 'default' },
};

/** Lookups one request keeps in flight at once, so a long list does not become a burst at Confluence. */
const NAME_LOOKUPS_IN_FLIGHT = 8;

/** Display names for accountIds; a person Confluence no longer knows shows as their id. */
export async function displayNames(confluence: ConfluenceClient, clientKey: string, ids: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  const names = new Map<string, string>();
  for (let i = 0; i < unique.length; i += NAME_LOOKUPS_IN_FLIGHT) {
    const batch = unique.slice(i, i + NAME_LOOKUPS_IN_FLIGHT);
    const users = await Promise.all(batch.map((id) => confluence.getUser(clientKey, id).catch(() => null)));
    batch.forEach((id, k) => names.set(id, users[k]?.displayName ?? id));
  }
  return names;
}

/** The public JSON shape of a workflow (documented in the README). */
export function workflowJson(v: WorkflowView, names: Map<string, string>) {
  const wf = v.workflow;
  const latest = new Map(v.current.map((d) => [d.approverId, d]));
  return {
    id: wf.id,
    pageId: wf.pageId,
    macroId: wf.macroId,
    spaceKey: wf.spaceKey,
    pageTitle: wf.pageTitle,
    state: wf.state,
    boundVersion: wf.boundVersion,
    bodyHash: wf.bodyHash,
    rule: wf.rule,
    ruleText: v.ruleText,
    quorum: wf.quorum,
    rejections: wf.rejections,
    approvers: wf.approvers.map((a) => ({
      accountId: a,
      displayName: names.get(a) ?? a,
      decision: latest.get(a)?.decision ?? null,
      comment: latest.get(a)?.comment ?? null,
      at: latest.get(a)?.decidedAt.toISOString() ?? null,
    })),
    groups: wf.groups.map((g) => ({
      name: g,
      approvedBy: v.current.filter((d) => d.decision === 'approve' && d.viaGroups.includes(g) && latest.get(d.approverId) === d).map((d) => d.approverId),
    })),
    decisions: v.decisions.map((d) => ({
      approver: d.approverId,
      approverName: names.get(d.approverId) ?? d.approverId,
      decision: d.decision,
      comment: d.comment,
      pageVersion: d.pageVersion,
      round: d.round,
      at: d.decidedAt.toISOString(),
      counts: d.round === wf.round && latest.get(d.approverId) === d,
    })),
    waitingOn: { users: v.outcome.waitingOnUsers, groups: v.outcome.waitingOnGroups },
    approvals: v.outcome.approvals,
    rejectionCount: v.outcome.rejections,
    dueDate: wf.dueDate,
    overdue: v.overdue,
    reviewDays: wf.reviewDays,
    approvedAt: wf.approvedAt?.toISOString() ?? null,
    expiresAt: wf.expiresAt?.toISOString() ?? null,
    viewer: {
      canDecide: v.viewer.canDecide,
      reason: v.viewer.canDecide ? null : v.viewer.reason,
      myDecision: v.viewer.myDecision?.decision ?? null,
      viewedVersion: v.viewer.viewedVersion,
    },
  };
}

/** The view model of views/macro.hbs: text only, escaped by handlebars. */
export function macroModel(v: WorkflowView, names: Map<string, string>) {
  const json = workflowJson(v, names);
  const state = STATE_LABEL[json.state] ?? STATE_LABEL.pending;
  const byRound = new Map<number, typeof json.decisions>();
  for (const d of json.decisions) {
    if (d.round === v.workflow.round) continue;
    byRound.set(d.round, [...(byRound.get(d.round) ?? []), d]);
  }
  return {
    wf: json,
    stateLabel: state.label,
    stateTone: state.tone,
    people: json.approvers.map((a) => ({
      ...a,
      decisionLabel: a.decision === 'approve' ? 'Approved' : a.decision === 'reject' ? 'Rejected' : 'Waiting',
      decisionTone: a.decision === 'approve' ? 'success' : a.decision === 'reject' ? 'removed' : 'default',
    })),
    groups: json.groups.map((g) => ({
      name: g.name,
      approvedBy: g.approvedBy.map((id) => names.get(id) ?? id).join(', '),
      waiting: g.approvedBy.length === 0,
    })),
    others: json.decisions.filter((d) => d.counts && !v.workflow.approvers.includes(d.approver)),
    waitingNames: json.waitingOn.users.map((id) => names.get(id) ?? id).concat(json.waitingOn.groups.map((g) => `a member of ${g}`)).join(', '),
    earlier: [...byRound.entries()].sort((a, b) => b[0] - a[0]).map(([round, decisions]) => ({ round, decisions })),
    canDecide: json.viewer.canDecide,
    reason: json.viewer.reason,
    /** Set when the reader has another version open than the one decisions are for: the block is read-only. */
    otherVersion: v.viewer.viewedVersion !== null && v.viewer.viewedVersion !== json.boundVersion ? v.viewer.viewedVersion : null,
    open: ['pending', 'outdated', 'expired'].includes(json.state),
  };
}

/** Every accountId a view mentions. */
export function mentionedIds(v: WorkflowView): string[] {
  return [...v.workflow.approvers, ...v.decisions.map((d) => d.approverId)];
}

const DECISION_WORD: Record<string, string> = { approve: 'Approved', reject: 'Rejected' };

/** A UTC time an exported document can carry without a browser to localise it. */
function utc(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '';
}

/**
 * The view model of views/macro-static.hbs (exports): the state and its date, the bound version (and a
 * note when the exported version is another), every approver with decision, date and comment, groups.
 */
export function staticModel(v: WorkflowView, names: Map<string, string>, renderedVersion: number | null) {
  const json = workflowJson(v, names);
  const closed = !['pending', 'outdated', 'expired'].includes(json.state);
  return {
    title: json.pageTitle,
    stateLabel: (STATE_LABEL[json.state] ?? STATE_LABEL.pending).label,
    approvedAt: json.state === 'approved' ? utc(json.approvedAt) : '',
    boundVersion: json.boundVersion,
    otherVersion: renderedVersion !== null && renderedVersion !== json.boundVersion ? renderedVersion : null,
    ruleText: json.ruleText,
    dueDate: json.dueDate,
    expiresAt: utc(json.expiresAt),
    people: json.approvers.map((a) => ({
      name: a.displayName,
      decision: a.decision ? DECISION_WORD[a.decision] : closed ? 'No decision' : 'Waiting',
      at: utc(a.at),
      comment: a.comment ?? '',
    })),
    others: json.decisions
      .filter((d) => d.counts && !v.workflow.approvers.includes(d.approver))
      .map((d) => ({ name: d.approverName, decision: DECISION_WORD[d.decision], at: utc(d.at), comment: d.comment })),
    groups: json.groups.map((g) => ({ name: g.name, approvedBy: g.approvedBy.map((id) => names.get(id) ?? id).join(', ') })),
  };
}
