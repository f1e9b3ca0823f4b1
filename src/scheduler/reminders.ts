import { DAY_MS } from '../approvals/approval-rules';
import type { TenantDuty } from './jobs';
import type { ApprovalsService } from '../approvals/approvals-service';
import type { Workflow } from '../approvals/approvals-types';
import { workflowName } from '../approvals/macro-position';
import type { SpacePolicy, SpacePolicyProvider } from '../approvals/space-policy';
import type { ConfluenceClient } from '../confluence/confluence-client';
import { NotFoundError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { RemindersStore } from './reminders-store';

/** Approvers replaced after a closed account was erased: nobody to mention. */
const ERASED = /^erased:/;

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** The reminder comment (storage format); each mention makes Confluence notify that person. */
export function reminderBody(wf: Workflow, users: string[], groups: string[], overdue: boolean): string {
  const why =
    wf.state === 'outdated'
      ? 'needs approval again: the page changed after it was approved'
      : wf.state === 'expired'
        ? 'needs recertification: its review interval has passed'
        : overdue
          ? `is overdue (due ${wf.dueDate})`
          : 'is waiting for approval';
  const who = [
    ...users.map((id) => `<ac:link><ri:user ri:account-id="${xml(id)}" /></ac:link>`),
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
    },
  ) {}

  async sendDue(clientKey: string, now: Date): Promise<{ sent: number; notDue: number; failed: number }> {
    const counts = { sent: 0, notDue: 0, failed: 0 };
    const [awaiting, lastOf] = await Promise.all([this.deps.approvals.awaitingDecisions(clientKey, now), this.deps.store.lastOfEach(clientKey)]);
    const policies = new Map<string, Promise<SpacePolicy>>();
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
      const id = await this.deps.store.claim(clientKey, { workflowId: wf.id, round: wf.round, accountIds: users, groups: waitingOnGroups, sentAt: now });
      try {
        const comment = await this.deps.confluence.createComment(clientKey, { id: wf.pageId, type: wf.contentType }, reminderBody(wf, users, waitingOnGroups, overdue));
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
