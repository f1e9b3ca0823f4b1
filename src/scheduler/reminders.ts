import { DAY_MS } from '../approvals/approval-rules';
import type { TenantDuty } from './jobs';
import type { ApprovalsService } from '../approvals/approvals-service';
import type { Workflow } from '../approvals/approvals-types';
import { workflowName } from '../approvals/macro-position';
import type { SpacePolicy, SpacePolicyProvider } from '../approvals/space-policy';
import { dayOf, DelegationLookup } from '../approvals/delegation';
import type { ConfluenceClient } from '../confluence/confluence-client';
import { NotFoundError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { RemindersStore } from './reminders-store';

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

/**
 * Reminds the approvers who have not acted on an open workflow (pending, overdue, outdated, expired)
 * with a page comment that mentions them, at most once per the space's cadence.
 */
export class ReminderService {
  constructor(
    private readonly deps: {
      approvals: ApprovalsService;
      policies: SpacePolicyProvider;
      confluence: ConfluenceClient;
      store: RemindersStore;
      logger: Logger;
      /** Active delegations (issue 16): a reminder goes to the delegate of someone out of office. */
      delegations?: DelegationLookup;
    },
  ) {}

  async sendDue(clientKey: string, now: Date): Promise<{ sent: number; notDue: number; failed: number }> {
    const counts = { sent: 0, notDue: 0, failed: 0 };
    const [awaiting, lastOf] = await Promise.all([this.deps.approvals.awaitingDecisions(clientKey, now), this.deps.store.lastOfEach(clientKey)]);
    const policies = new Map<string, Promise<SpacePolicy>>();
    const waitingPeople = [...new Set(awaiting.flatMap((a) => a.waitingOnUsers).filter((id) => !ERASED.test(id)))];
    const delegationOf = this.deps.delegations && waitingPeople.length ? await this.deps.delegations.activeOf(clientKey, waitingPeople, dayOf(now)) : new Map();
    const names = new Map<string, string>();
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
      // Someone out of office is reminded through their delegate, where the space allows delegation and the
      // delegate may decide (not the author of the bound version unless the space allows self-approval).
      const standIns = new Map<string, StandIn>();
      if (policy.allowDelegation) {
        for (const u of users) {
          const d = delegationOf.get(u);
          if (!d || (!policy.allowSelfApproval && wf.boundAuthorId === d.delegateId)) continue;
          if (!names.has(u)) names.set(u, (await this.deps.confluence.getUser(clientKey, u).catch(() => null))?.displayName ?? 'a colleague');
          standIns.set(u, { delegateId: d.delegateId, delegatorName: names.get(u)! });
        }
      }
      const notified = [...new Set(users.map((u) => standIns.get(u)?.delegateId ?? u))];
      const id = await this.deps.store.claim(clientKey, { workflowId: wf.id, round: wf.round, accountIds: notified, groups: waitingOnGroups, sentAt: now });
      try {
        const comment = await this.deps.confluence.createComment(clientKey, { id: wf.pageId, type: wf.contentType }, reminderBody(wf, users, waitingOnGroups, overdue, standIns));
        await this.deps.store.markSent(clientKey, id, comment.id);
        counts.sent++;
        this.deps.logger.info({ clientKey, pageId: wf.pageId, workflowId: wf.id, mentioned: users.length, groups: waitingOnGroups.length }, 'reminder sent');
      } catch (err) {
        await this.deps.store.release(clientKey, id);
        counts.failed++;
        // Confluence hides the page from the app (restricted without it): the dashboard says so.
        if (err instanceof NotFoundError) await this.deps.approvals.markAppAccess(clientKey, wf.pageId, false);
        this.deps.logger.warn({ clientKey, pageId: wf.pageId, workflowId: wf.id, err }, 'reminder could not be posted; next run tries again');
      }
    }
    return counts;
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
