import { DAY_MS } from '../approvals/approval-rules';
import type { TenantDuty } from './jobs';
import type { ApprovalsService } from '../approvals/approvals-service';
import type { Workflow } from '../approvals/approvals-types';
import { workflowName } from '../approvals/macro-position';
import type { SpacePolicy, SpacePolicyProvider } from '../approvals/space-policy';
import { dayOf, Delegation, DelegationLookup } from '../approvals/delegation';
import type { ConfluenceClient } from '../confluence/confluence-client';
import { NotFoundError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { NewReminder, ReminderLog } from './reminder-log';

/** Approvers replaced after a closed account was erased: nobody to mention. */
const ERASED = /^erased:/;

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Someone out of office whose reminder goes to their delegate: the delegate's accountId and the delegator's name. */
export interface StandIn {
  delegateId: string;
  delegatorName: string;
}

/**
 * The reminder comment (storage format); each mention makes Confluence notify that person. A person out of office
 * (`standIns`, by their accountId) is not mentioned: their delegate is, "on behalf of" them.
 */
export function reminderBody(wf: Workflow, users: string[], groups: string[], overdue: boolean, standIns: ReadonlyMap<string, StandIn> = new Map()): string {
  const why =
    wf.state === 'outdated'
      ? 'needs approval again: the page changed after it was approved'
      : wf.state === 'expired'
        ? 'needs recertification: its review interval has passed'
        : overdue
          ? `is overdue (due ${wf.dueDate})`
          : 'is waiting for approval';
  const who = [
    ...users.map((id) => {
      const standIn = standIns.get(id);
      return standIn
        ? `<ac:link><ri:user ri:account-id="${xml(standIn.delegateId)}" /></ac:link> (on behalf of ${xml(standIn.delegatorName)}, who is out of office)`
        : `<ac:link><ri:user ri:account-id="${xml(id)}" /></ac:link>`;
    }),
    ...groups.map((g) => `a member of the group <strong>${xml(g)}</strong>`),
  ];
  const name = workflowName(wf);
  return `<p><strong>Approval reminder:</strong> “${xml(wf.pageTitle)}”${name ? ` — ${xml(name)}` : ''} (version ${wf.boundVersion}) ${why}. Waiting for: ${who.join(', ')}.</p>`;
}

/** A reminder a run will post: the workflow, who is waiting, who stands in for whom, and the claim it records. */
interface Planned {
  wf: Workflow;
  users: string[];
  groups: string[];
  overdue: boolean;
  standIns: Map<string, StandIn>;
  claim: NewReminder;
}

type Counts = { sent: number; notDue: number; failed: number };

/**
 * Reminds the approvers who have not acted on an open workflow (pending, overdue, outdated, expired)
 * with a page comment that mentions them, at most once per the space's cadence. A run reads and writes with a
 * fixed number of statements (the open workflows and their decisions, the last reminders, the delegations; one
 * claim of every reminder due, one update for those posted, one delete for those that failed): only the
 * comments themselves are one call each.
 */
export class ReminderService {
  constructor(
    private readonly deps: {
      approvals: Pick<ApprovalsService, 'awaitingDecisions' | 'markAppAccess'>;
      policies: SpacePolicyProvider;
      confluence: ConfluenceClient;
      store: ReminderLog;
      logger: Logger;
      /** Active delegations (issue 16): a reminder goes to the delegate of someone out of office. */
      delegations?: DelegationLookup;
    },
  ) {}

  async sendDue(clientKey: string, now: Date): Promise<Counts> {
    const counts = { sent: 0, notDue: 0, failed: 0 };
    const due = await this.plan(clientKey, now, counts);
    // Claimed before any comment is posted: a run that dies part way does not remind anyone twice.
    const ids = await this.deps.store.claimAll(clientKey, due.map((r) => r.claim));
    const sent: Array<{ id: number; commentId: string }> = [];
    const failed: number[] = [];
    let posted = 0;
    try {
      for (const [i, r] of due.entries()) {
        const commentId = await this.post(clientKey, r);
        if (commentId === null) failed.push(ids[i]);
        else sent.push({ id: ids[i], commentId });
        posted = i + 1;
      }
    } finally {
      // A run that throws part way (not one that dies) keeps what it posted as sent and gives back the claims it did
      // not get to, which would otherwise count as sent and skip those reminders for a whole cadence.
      await this.deps.store.markSentAll(clientKey, sent);
      await this.deps.store.releaseAll(clientKey, [...failed, ...ids.slice(posted)]);
    }
    counts.sent = sent.length;
    counts.failed = failed.length;
    return counts;
  }

  /** The reminders due now, and how many open workflows are not due yet (`counts.notDue`). */
  private async plan(clientKey: string, now: Date, counts: Counts): Promise<Planned[]> {
    const [awaiting, lastOf] = await Promise.all([this.deps.approvals.awaitingDecisions(clientKey, now), this.deps.store.lastOfEach(clientKey)]);
    const policies = new Map<string, Promise<SpacePolicy>>();
    const waitingPeople = [...new Set(awaiting.flatMap((a) => a.waitingOnUsers).filter((id) => !ERASED.test(id)))];
    const delegationOf = this.deps.delegations && waitingPeople.length ? await this.deps.delegations.activeOf(clientKey, waitingPeople, dayOf(now)) : new Map<string, Delegation>();
    const names = new Map<string, string>();
    const due: Planned[] = [];
    for (const { workflow: wf, waitingOnUsers, waitingOnGroups, overdue } of awaiting) {
      const users = waitingOnUsers.filter((id) => !ERASED.test(id));
      if (!users.length && !waitingOnGroups.length) continue;
      if (!policies.has(wf.spaceKey)) policies.set(wf.spaceKey, this.deps.policies.policyFor(clientKey, wf.spaceKey));
      const policy = await policies.get(wf.spaceKey)!;
      const last = lastOf.get(wf.id);
      if (last && last.sentAt.getTime() + policy.reminderCadenceDays * DAY_MS > now.getTime()) {
        counts.notDue++;
        continue;
      }
      const standIns = policy.allowDelegation ? await this.standInsFor(clientKey, wf, users, policy, { delegationOf, names }) : new Map<string, StandIn>();
      const notified = [...new Set(users.map((u) => standIns.get(u)?.delegateId ?? u))];
      due.push({ wf, users, groups: waitingOnGroups, overdue, standIns, claim: { workflowId: wf.id, round: wf.round, accountIds: notified, groups: waitingOnGroups, sentAt: now } });
    }
    return due;
  }

  /**
   * Someone out of office is reminded through their delegate, where the space allows delegation and the
   * delegate may decide (not the author of the bound version unless the space allows self-approval).
   */
  private async standInsFor(
    clientKey: string,
    wf: Workflow,
    users: string[],
    policy: SpacePolicy,
    known: { delegationOf: Map<string, Delegation>; names: Map<string, string> },
  ): Promise<Map<string, StandIn>> {
    const standIns = new Map<string, StandIn>();
    for (const u of users) {
      const d = known.delegationOf.get(u);
      if (!d || (!policy.allowSelfApproval && wf.boundAuthorId === d.delegateId)) continue;
      if (!known.names.has(u)) known.names.set(u, (await this.deps.confluence.getUser(clientKey, u).catch(() => null))?.displayName ?? 'a colleague');
      standIns.set(u, { delegateId: d.delegateId, delegatorName: known.names.get(u)! });
    }
    return standIns;
  }

  /** Posts the reminder's comment; null when it could not be posted (the next run tries again). */
  private async post(clientKey: string, r: Planned): Promise<string | null> {
    const { wf } = r;
    try {
      const comment = await this.deps.confluence.createComment(clientKey, { id: wf.pageId, type: wf.contentType }, reminderBody(wf, r.users, r.groups, r.overdue, r.standIns));
      this.deps.logger.info({ clientKey, pageId: wf.pageId, workflowId: wf.id, mentioned: r.users.length, groups: r.groups.length }, 'reminder sent');
      return comment.id;
    } catch (err) {
      // Confluence hides the page from the app (restricted without it): the dashboard says so.
      if (err instanceof NotFoundError) await this.deps.approvals.markAppAccess(clientKey, wf.pageId, false);
      this.deps.logger.warn({ clientKey, pageId: wf.pageId, workflowId: wf.id, err }, 'reminder could not be posted; next run tries again');
      return null;
    }
  }
}

/** Reminders to approvers who have not acted, hourly (each space's cadence decides who is due). */
export function reminderDuties(reminders: ReminderService): TenantDuty[] {
  return [
    {
      name: 'reminders',
      schedule: '0 * * * *',
      run: async (clientKey, tick) => {
        const r = await reminders.sendDue(clientKey, tick);
        return { sent: r.sent, failed: r.failed };
      },
    },
  ];
}
