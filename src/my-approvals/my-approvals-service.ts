import { decideRefusal, describeRule, evaluate } from '../approvals/approval-rules';
import type { SpacePolicy, SpacePolicyProvider } from '../approvals/space-policy';
import { dayOf, DelegationLookup, onBehalfRefusal } from '../approvals/delegation';
import type { Workflow } from '../approvals/approvals-types';
import { workflowName } from '../approvals/macro-position';
import { stageGate, stageSummary } from '../approvals/stages';
import { ConfluenceClient, contentUrl } from '../confluence/confluence-client';
import type { Principal } from '../confluence/connect-auth';
import type { Clock } from '../lib/clock';
import type { MyApprovalsReads } from './my-approvals-store';

export interface MyApproval {
  id: string;
  pageId: string;
  macroId: string;
  /** Which workflow on the page: the macro's title, else "Approvals 2 of 2" when the page has several; null otherwise. */
  name: string | null;
  spaceKey: string;
  pageTitle: string;
  pageUrl: string;
  state: Workflow['state'];
  boundVersion: number;
  dueDate: string | null;
  overdue: boolean;
  ruleText: string;
  /** For a stage of an ordered sequence: its place and the page's current stage (always this one: only open stages are listed). */
  stage: { position: number; count: number; current: string | null } | null;
  /** Why it waits on you: "you" when you are listed by name, else the listed groups you belong to (or they do, `onBehalfOf`). */
  via: { you: boolean; groups: string[] };
  /** Set when it waits on someone you stand in for (their delegation names you): you decide on their behalf. */
  onBehalfOf: { accountId: string; displayName: string; endsOn: string } | null;
  waitingSince: string;
}

/** Candidates looked at per request; the list shows at most MAX_ITEMS of them. */
const CANDIDATES = 500;
const MAX_ITEMS = 100;
const READ_CHECKS_AT_ONCE = 8;

/** Everything that waits on the current user, across every space they can read. */
export class MyApprovalsService {
  constructor(
    private readonly deps: { store: MyApprovalsReads; confluence: ConfluenceClient; policies: SpacePolicyProvider; clock: Clock; delegations?: DelegationLookup },
  ) {}

  async list(p: Principal): Promise<{ items: MyApproval[]; truncated: boolean }> {
    const now = this.deps.clock.now();
    const policies = new Map<string, Promise<SpacePolicy>>();
    const policyOf = (spaceKey: string) => {
      if (!policies.has(spaceKey)) policies.set(spaceKey, this.deps.policies.policyFor(p.clientKey, spaceKey));
      return policies.get(spaceKey)!;
    };
    const own = await this.waitingOn(p, p.accountId, null, policyOf, now);
    // What waits on the people whose delegation names this person today, where their space allows it (issue 16).
    const delegations = this.deps.delegations ? await this.deps.delegations.activeTo(p.clientKey, p.accountId, dayOf(now)) : [];
    const behalf = [];
    for (const d of delegations) {
      const name = (await this.deps.confluence.getUser(p.clientKey, d.delegatorId).catch(() => null))?.displayName ?? d.delegatorId;
      behalf.push(await this.waitingOn(p, d.delegatorId, { accountId: d.delegatorId, displayName: name, endsOn: d.endsOn }, policyOf, now));
    }
    const waiting = [...own.items, ...behalf.flatMap((b) => b.items)];
    const readable = await this.readableOnly(p, waiting);
    readable.sort(urgency);
    return { items: readable.slice(0, MAX_ITEMS), truncated: readable.length > MAX_ITEMS || own.full || behalf.some((b) => b.full) };
  }

  /**
   * What waits on `accountId` — the signed-in person, or someone they stand in for (`onBehalfOf`) — and on which
   * the signed-in person may decide: the decision API's rules, separation of duties for both people included.
   */
  private async waitingOn(
    p: Principal,
    accountId: string,
    onBehalfOf: MyApproval['onBehalfOf'],
    policyOf: (spaceKey: string) => Promise<SpacePolicy>,
    now: Date,
  ): Promise<{ items: MyApproval[]; full: boolean }> {
    const groups = await this.deps.confluence.groupsOf(p.clientKey, accountId);
    const candidates = await this.deps.store.openFor(p.clientKey, accountId, groups, CANDIDATES);
    const decisions = await this.deps.store.currentDecisions(p.clientKey, candidates);
    const onPages = await this.deps.store.workflowsOfPages(p.clientKey, candidates.map((w) => w.pageId));
    const pageOf = (wf: Workflow) => onPages.filter((w) => w.pageId === wf.pageId);
    const today = now.toISOString().slice(0, 10);

    const waiting: MyApproval[] = [];
    for (const wf of candidates) {
      const mine = groups.filter((g) => wf.groups.includes(g));
      const listed = wf.approvers.includes(accountId);
      const outcome = evaluate(wf, decisions.filter((d) => d.workflowId === wf.id));
      // Under "all", a group is done once one member approved: it no longer waits on the others.
      const viaGroups = wf.rule === 'all' ? mine.filter((g) => outcome.waitingOnGroups.includes(g)) : mine;
      // The decision API's rule (separation of duties included; the space's policy is read only when it matters).
      if (onBehalfOf) {
        if (onBehalfRefusal(wf, accountId, p.accountId, viaGroups, await policyOf(wf.spaceKey)) !== null) continue;
      } else {
        const author = wf.boundAuthorId === accountId;
        if (decideRefusal(wf, accountId, viaGroups, author ? (await policyOf(wf.spaceKey)).allowSelfApproval : true) !== null) continue;
      }
      // A stage waits on nobody until every stage before it is approved.
      if (stageGate(wf, pageOf(wf)) !== null) continue;
      const stage = stageSummary(wf, pageOf(wf));
      waiting.push({
        id: wf.id,
        pageId: wf.pageId,
        macroId: wf.macroId,
        name: workflowName(wf),
        stage: stage ? { position: stage.position, count: stage.count, current: stage.currentTitle } : null,
        spaceKey: wf.spaceKey,
        pageTitle: wf.pageTitle,
        pageUrl: contentUrl(p.hostBaseUrl, wf),
        state: wf.state,
        boundVersion: wf.boundVersion,
        dueDate: wf.dueDate,
        overdue: !!wf.dueDate && wf.dueDate < today,
        ruleText: describeRule(wf),
        via: { you: listed, groups: viaGroups },
        onBehalfOf,
        waitingSince: wf.updatedAt.toISOString(),
      });
    }
    return { items: waiting, full: candidates.length === CANDIDATES };
  }

  /** Keeps what the user may read now (Confluence's answer, cached ≤ 60 s), a few checks at a time. */
  private async readableOnly(p: Principal, items: MyApproval[]): Promise<MyApproval[]> {
    const pageIds = [...new Set(items.map((i) => i.pageId))];
    const allowed = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < pageIds.length) {
        const id = pageIds[next++];
        if ((await this.deps.confluence.readAccess(p.clientKey, id, p.accountId).catch(() => 'denied')) === 'granted') allowed.add(id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CHECKS_AT_ONCE, pageIds.length) }, worker));
    return items.filter((i) => allowed.has(i.pageId));
  }
}

/** Overdue first (earliest due), then expired, then by due date, then longest waiting. */
function urgency(a: MyApproval, b: MyApproval): number {
  const rank = (x: MyApproval) => (x.overdue ? 0 : x.state === 'expired' ? 1 : 2);
  return (
    rank(a) - rank(b) ||
    (a.dueDate ?? '9999-12-31').localeCompare(b.dueDate ?? '9999-12-31') ||
    a.waitingSince.localeCompare(b.waitingSince) ||
    a.id.localeCompare(b.id)
  );
}
