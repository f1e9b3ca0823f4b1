import type { ConfluenceClient } from '../confluence/confluence-client';
import { DAY_MS, isOpen, OPEN_STATES, STATE_LABELS, WorkflowState } from './approval-rules';
import type { WorkflowView } from './approvals-service';
import { workflowName } from './macro-position';

/** The label of a state named by a string (JSON from the API), Pending when it is none. */
const STATE_LABEL: Record<string, { label: string; tone: string } | undefined> = STATE_LABELS;

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
    title: wf.title,
    /** The title of the stage this one waits for (ordered stages), or null. */
    after: wf.after,
    /** The page's ordered stages and where the page stands, when this workflow is one of them; null otherwise. */
    stages: v.stages
      ? {
          position: v.stages.position,
          count: v.stages.count,
          result: v.stages.result,
          current: v.stages.currentTitle,
          opensAfter: v.stages.gate,
          sequence: v.stages.stages.map((st) => ({ position: st.position, title: st.title, state: st.label, current: st.isCurrent })),
        }
      : null,
    /** Which workflow on the page, for people: the title, else "Approvals 2 of 2" when there are several. */
    name: workflowName(wf),
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
      /** The delegate who made that decision on the approver's behalf; null when the approver decided. */
      decidedBy: decidedBy(latest.get(a)?.delegateId ?? null, names),
    })),
    groups: wf.groups.map((g) => ({
      name: g,
      approvedBy: v.current.filter((d) => d.decision === 'approve' && d.viaGroups.includes(g) && latest.get(d.approverId) === d).map((d) => d.approverId),
    })),
    decisions: v.decisions.map((d) => decisionJson(d, wf.round, latest, names)),
    waitingOn: { users: v.outcome.waitingOnUsers, groups: v.outcome.waitingOnGroups },
    approvals: v.outcome.approvals,
    rejectionCount: v.outcome.rejections,
    dueDate: wf.dueDate,
    overdue: v.overdue,
    reviewDays: wf.reviewDays,
    approvedAt: wf.approvedAt?.toISOString() ?? null,
    expiresAt: wf.expiresAt?.toISOString() ?? null,
    viewer: viewerJson(v, names),
  };
}

/** What the viewer may do here, and for whom they stand in. */
function viewerJson(v: WorkflowView, names: Map<string, string>) {
  return {
    canDecide: v.viewer.canDecide,
    reason: v.viewer.canDecide ? null : v.viewer.reason,
    myDecision: v.viewer.myDecision?.decision ?? null,
    viewedVersion: v.viewer.viewedVersion,
    /** The people the viewer stands in for (an active delegation), and whether the viewer may decide for each here. */
    onBehalfOf: v.viewer.onBehalfOf.map((o) => ({
      accountId: o.accountId,
      displayName: names.get(o.accountId) ?? o.accountId,
      until: o.endsOn,
      canDecide: o.canDecide,
      reason: o.reason,
      theirDecision: o.myDecision?.decision ?? null,
    })),
  };
}

/** One decision of the workflow; `counts` when it is its approver's latest in the current round. */
function decisionJson(d: WorkflowView['decisions'][number], round: number, latest: Map<string, WorkflowView['decisions'][number]>, names: Map<string, string>) {
  return {
    approver: d.approverId,
    approverName: names.get(d.approverId) ?? d.approverId,
    decision: d.decision,
    comment: d.comment,
    pageVersion: d.pageVersion,
    round: d.round,
    at: d.decidedAt.toISOString(),
    counts: d.round === round && latest.get(d.approverId) === d,
    decidedBy: decidedBy(d.delegateId, names),
  };
}

function decidedBy(delegateId: string | null, names: Map<string, string>): { accountId: string; displayName: string } | null {
  return delegateId ? { accountId: delegateId, displayName: names.get(delegateId) ?? delegateId } : null;
}

/** A moment as the views show it: UTC text the browser replaces with the viewer's locale and zone (public/js/attest-ap.js). */
export function moment(at: Date | string | null): { iso: string; utc: string } | null {
  if (!at) return null;
  const iso = typeof at === 'string' ? at : at.toISOString();
  return { iso, utc: utc(iso) };
}

/** Names in a sentence: "A", "A and B", "A, B and C". */
function listInWords(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}


/** What an edit to the page does to a settled workflow, in the words of the space's policy. */
function whatAnEditDoes(resetOnEdit: string): string {
  if (resetOnEdit === 'any') return 'Any edit to the page starts a new round of approvals.';
  if (resetOnEdit === 'never') return 'This space keeps decisions when the page is edited, so edits do not reopen it.';
  return 'Changing the page content starts a new round of approvals.';
}

/**
 * Why the workflow is where it is and since when: what reopens a closed one (approved, rejected, archived),
 * or why approvers decide again (expired, outdated); null while it is simply pending. `before` and `after`
 * surround the moment so the view can mark it up for the viewer's locale.
 */
function closedLine(v: WorkflowView, names: Map<string, string>): { before: string; at: { iso: string; utc: string } | null; after: string } | null {
  const wf = v.workflow;
  const who = (kind: 'approve' | 'reject') => listInWords(v.current.filter((d) => d.decision === kind).map((d) => names.get(d.approverId) ?? d.approverId));
  switch (wf.state) {
    case 'approved': {
      const by = who('approve');
      const review = wf.expiresAt ? ' The approval lapses at the next review; approvers then decide again.' : '';
      return { before: `Approved${by ? ` by ${by}` : ''} since`, at: moment(wf.approvedAt), after: `. ${whatAnEditDoes(v.policy.resetOnEdit)}${review}` };
    }
    case 'rejected': {
      const by = who('reject');
      return { before: `Rejected${by ? ` by ${by}` : ''} since`, at: moment(wf.lastDecisionAt ?? wf.updatedAt), after: `: decisions are closed. ${whatAnEditDoes(v.policy.resetOnEdit)}` };
    }
    case 'archived': {
      const was = wf.stateBeforeArchive ? (STATE_LABEL[wf.stateBeforeArchive]?.label ?? wf.stateBeforeArchive).toLowerCase() : 'pending';
      return { before: 'Archived since', at: moment(wf.updatedAt), after: `: the page is in the trash. Restoring the page reopens this workflow as it was (${was}).` };
    }
    case 'expired': {
      const lapsed = wf.approvedAt && wf.reviewDays ? new Date(wf.approvedAt.getTime() + wf.reviewDays * DAY_MS) : null;
      return { before: 'The approval lapsed', at: moment(lapsed), after: `: this page is reviewed every ${wf.reviewDays ?? '…'} days, so approvers decide again on version ${wf.boundVersion}.` };
    }
    case 'outdated':
      return { before: 'The page changed', at: moment(wf.updatedAt), after: `, after approval was requested: decisions from the earlier round no longer count, and approvers decide again on version ${wf.boundVersion}.` };
    default:
      return null;
  }
}

/** Why the viewer sees no buttons (or why their decision would change nothing), in words that say what would change it. */
function reasonLine(v: WorkflowView, names: Map<string, string>): string | null {
  const wf = v.workflow;
  switch (v.viewer.refusal) {
    case 'not-approver': {
      const listed = [...wf.approvers.map((a) => names.get(a) ?? a), ...wf.groups.map((g) => `members of ${g}`)];
      return listed.length
        ? `You are not an approver of this page; approvers: ${listInWords(listed)}. Whoever edits the page can add you in the macro's settings.`
        : 'No approvers are listed yet: whoever edits the page can add people or groups in the macro\'s settings.';
    }
    case 'stage-closed':
      return 'You approve in this stage: you can decide once every stage before it is approved.';
    case 'author':
      return `Someone other than the author of version ${wf.boundVersion} must approve: you wrote that version (separation of duties). A space admin can allow authors to approve their own versions in the space settings.`;
    default:
      break;
  }
  // A group member who is not listed in person, when each of their groups has its approval already.
  const groups = v.viewer.viaGroups;
  if (!v.viewer.canDecide || !groups.length || wf.approvers.includes(v.viewer.accountId) || wf.rule !== 'all') return null;
  const approvedBy = (g: string) => v.current.filter((d) => d.decision === 'approve' && d.viaGroups.includes(g) && d.approverId !== v.viewer.accountId);
  if (!groups.every((g) => approvedBy(g).length)) return null;
  const who = listInWords([...new Set(groups.flatMap((g) => approvedBy(g).map((d) => names.get(d.approverId) ?? d.approverId)))]);
  return `Your group ${listInWords(groups)} already approved (${who}): your approval is not needed for it, though a rejection would still count.`;
}

/** The view model of views/macro.hbs: text only, escaped by handlebars. */
export function macroModel(v: WorkflowView, names: Map<string, string>) {
  const json = workflowJson(v, names);
  const state = STATE_LABEL[json.state] ?? STATE_LABELS.pending;
  const open = OPEN_STATES.includes(v.workflow.state);
  const byRound = new Map<number, Array<(typeof json.decisions)[number] & { when: ReturnType<typeof moment> }>>();
  for (const d of json.decisions) {
    if (d.round === v.workflow.round) continue;
    byRound.set(d.round, [...(byRound.get(d.round) ?? []), { ...d, when: moment(d.at) }]);
  }
  // A group member's approval is told once, on its group's line; other unlisted deciders get their own line.
  const shownOnGroup = (d: (typeof json.decisions)[number]) => d.decision === 'approve' && json.groups.some((g) => g.approvedBy.includes(d.approver));
  return {
    wf: json,
    stateLabel: state.label,
    stateTone: state.tone,
    outdated: json.state === 'outdated',
    dueDate: json.dueDate,
    expiresAt: moment(json.expiresAt),
    people: json.approvers.map((a) => ({
      ...a,
      decisionLabel: a.decision === 'approve' ? 'Approved' : a.decision === 'reject' ? 'Rejected' : open ? 'Waiting' : 'No decision',
      decisionTone: a.decision === 'approve' ? 'success' : a.decision === 'reject' ? 'removed' : 'default',
    })),
    groups: json.groups.map((g) => ({
      name: g.name,
      approvals: g.approvedBy.map((id) => ({ name: names.get(id) ?? id, comment: json.decisions.find((d) => d.counts && d.approver === id)?.comment ?? '' })),
      waiting: g.approvedBy.length === 0,
      open,
    })),
    others: json.decisions.filter((d) => d.counts && !v.workflow.approvers.includes(d.approver) && !shownOnGroup(d)),
    waitingNames: json.waitingOn.users.map((id) => names.get(id) ?? id).concat(json.waitingOn.groups.map((g) => `a member of ${g}`)).join(', '),
    earlier: [...byRound.entries()].sort((a, b) => b[0] - a[0]).map(([round, decisions]) => ({ round, decisions })),
    canDecide: json.viewer.canDecide,
    /** The ordered stages with where the page stands; the gate's words while this stage waits. */
    stages: v.stages,
    stageGate: v.stages?.gate ?? null,
    /** People the viewer may decide for (delegations), and why not for the others. */
    behalfChoices: json.viewer.onBehalfOf.filter((o) => o.canDecide),
    behalfRefusals: json.viewer.onBehalfOf.filter((o) => !o.canDecide && o.reason).map((o) => `On behalf of ${o.displayName}: ${o.reason}`),
    decideForm: json.viewer.canDecide || json.viewer.onBehalfOf.some((o) => o.canDecide),
    // A delegate who is no approver themselves is told whom they decide for, not that they are not an approver.
    reasonLine:
      !json.viewer.canDecide && v.viewer.refusal === 'not-approver' && json.viewer.onBehalfOf.some((o) => o.canDecide)
        ? `You decide here on behalf of ${listInWords(json.viewer.onBehalfOf.filter((o) => o.canDecide).map((o) => o.displayName))}, who is out of office.`
        : reasonLine(v, names),
    closed: closedLine(v, names),
    /** Set when the reader has another version open than the one decisions are for: the block is read-only. */
    otherVersion: v.viewer.viewedVersion !== null && v.viewer.viewedVersion !== json.boundVersion ? v.viewer.viewedVersion : null,
    open,
  };
}

/** Every accountId a view mentions. */
export function mentionedIds(v: WorkflowView): string[] {
  return [
    ...v.workflow.approvers,
    ...v.decisions.map((d) => d.approverId),
    ...v.decisions.flatMap((d) => (d.delegateId ? [d.delegateId] : [])),
    ...v.viewer.onBehalfOf.map((o) => o.accountId),
  ];
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
  const closed = !isOpen(json.state as WorkflowState);
  return {
    title: json.pageTitle,
    name: json.name,
    /** Ordered stages: "Stage 2 of 2 · This page: Approved" and the stage's gate while it waits. */
    stage: v.stages ? { where: `Stage ${v.stages.position} of ${v.stages.count} · This page: ${v.stages.resultLabel}`, gate: v.stages.gate } : null,
    stateLabel: (STATE_LABEL[json.state] ?? STATE_LABELS.pending).label,
    approvedAt: json.state === 'approved' ? utc(json.approvedAt) : '',
    boundVersion: json.boundVersion,
    otherVersion: renderedVersion !== null && renderedVersion !== json.boundVersion ? renderedVersion : null,
    ruleText: json.ruleText,
    dueDate: json.dueDate,
    expiresAt: utc(json.expiresAt),
    people: json.approvers.map((a) => ({
      name: a.displayName,
      decision: a.decision ? `${DECISION_WORD[a.decision]}${a.decidedBy ? ` by ${a.decidedBy.displayName} on behalf of ${a.displayName}` : ''}` : closed ? 'No decision' : 'Waiting',
      at: utc(a.at),
      comment: a.comment ?? '',
    })),
    others: json.decisions
      .filter((d) => d.counts && !v.workflow.approvers.includes(d.approver))
      .map((d) => ({ name: d.approverName, decision: DECISION_WORD[d.decision], at: utc(d.at), comment: d.comment })),
    groups: json.groups.map((g) => ({ name: g.name, approvedBy: g.approvedBy.map((id) => names.get(id) ?? id).join(', ') })),
  };
}
