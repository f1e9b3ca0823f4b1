import { evaluate, OPEN_STATES, WorkflowState } from '../approvals/approval-rules';
import type { Decision, Workflow } from '../approvals/approvals-types';
import { workflowName } from '../approvals/macro-position';
import { stageSummary } from '../approvals/stages';
import { ConfluenceClient, contentUrl } from '../confluence/confluence-client';
import type { Principal } from '../confluence/connect-auth';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import { decodeCursor, encodeCursor } from './dashboard-cursor';
import type { SpaceDashboardReads } from './space-dashboard-store';
import type { SpaceSettingsService } from './space-settings-service';
import type { DashboardFilter } from './spaces-schemas';
import type { VerificationStatusSource } from './verification-status';

export interface DashboardItem {
  id: string;
  pageId: string;
  macroId: string;
  /** Which workflow on the page: the macro's title, else "Approvals 2 of 2" when the page has several; null otherwise. */
  name: string | null;
  pageTitle: string;
  pageUrl: string;
  state: WorkflowState;
  overdue: boolean;
  boundVersion: number;
  dueDate: string | null;
  /**
   * For a stage of an ordered sequence: its place, where the page stands (`open`, `approved`, `rejected`), the
   * page's current stage, and why this one takes no decisions yet; null for a workflow that is not a stage.
   */
  stage: { position: number; count: number; result: 'open' | 'approved' | 'rejected'; current: string | null; opensAfter: string | null } | null;
  waitingOn: { users: Array<{ accountId: string; displayName: string }>; groups: string[] };
  lastDecision: { decision: Decision['decision']; accountId: string; displayName: string; at: string } | null;
  createdAt: string;
  approvedAt: string | null;
  expiresAt: string | null;
  /** Since when Confluence hides the page from the Attest app (restrictions without the app); null when it can read it. */
  appCannotReadSince: string | null;
}

export interface DashboardPage {
  spaceKey: string;
  state: DashboardFilter | null;
  items: DashboardItem[];
  nextCursor: string | null;
  /** First page only: workflows per state (and `overdue`), for the filter. */
  counts?: Record<string, number>;
  /** First page only: the tenant's chain status, when a source is wired in. */
  chain?: Awaited<ReturnType<VerificationStatusSource['status']>>;
}

/** Every workflow of a space for its admins, most urgent first. */
export class SpaceDashboardService {
  constructor(
    private readonly deps: {
      store: SpaceDashboardReads;
      settings: SpaceSettingsService;
      confluence: ConfluenceClient;
      verification: VerificationStatusSource;
      clock: Clock;
      logger: Logger;
    },
  ) {}

  async list(p: Principal, spaceKey: string, q: { state?: DashboardFilter; cursor?: string; limit: number }): Promise<DashboardPage> {
    await this.deps.settings.assertSpaceAdmin(p, spaceKey);
    const after = q.cursor ? decodeCursor(q.cursor) : null;
    const today = this.deps.clock.now().toISOString().slice(0, 10);
    const states = q.state === undefined ? null : q.state === 'overdue' ? 'overdue' : [q.state];
    const { rows, more } = await this.deps.store.page(p.clientKey, spaceKey, { today, states, after, limit: q.limit });
    const workflows = rows.map((r) => r.workflow);
    const decisions = await this.deps.store.decisionsOf(p.clientKey, workflows.map((w) => w.id));
    const byWorkflow = new Map<string, Decision[]>();
    for (const d of decisions) byWorkflow.set(d.workflowId, [...(byWorkflow.get(d.workflowId) ?? []), d]);

    const onPages = await this.deps.store.workflowsOfPages(p.clientKey, workflows.map((w) => w.pageId));
    const partial = workflows.map((wf) => this.item(p, wf, byWorkflow.get(wf.id) ?? [], today, onPages.filter((w) => w.pageId === wf.pageId)));
    const ids = partial.flatMap((i) => [...i.waitingOn.users.map((u) => u.accountId), ...(i.lastDecision ? [i.lastDecision.accountId] : [])]);
    const names = await this.names(p.clientKey, ids);
    for (const i of partial) {
      for (const u of i.waitingOn.users) u.displayName = names.get(u.accountId) ?? u.accountId;
      if (i.lastDecision) i.lastDecision.displayName = names.get(i.lastDecision.accountId) ?? i.lastDecision.accountId;
    }
    const page: DashboardPage = {
      spaceKey,
      state: q.state ?? null,
      items: partial,
      nextCursor: more && rows.length ? encodeCursor(rows[rows.length - 1].key) : null,
    };
    if (!after) {
      page.counts = await this.deps.store.counts(p.clientKey, spaceKey, today);
      page.chain = await this.chainStatus(p.clientKey);
    }
    return page;
  }

  private item(p: Principal, wf: Workflow, decisions: Decision[], today: string, page: Workflow[]): DashboardItem {
    const stage = stageSummary(wf, page);
    // A stage that has not opened waits on nobody yet.
    const open = OPEN_STATES.includes(wf.state) && !stage?.gate;
    const outcome = evaluate(wf, decisions.filter((d) => d.round === wf.round));
    const last = decisions.length ? decisions[decisions.length - 1] : null;
    return {
      id: wf.id,
      pageId: wf.pageId,
      macroId: wf.macroId,
      name: workflowName(wf),
      stage: stage ? { position: stage.position, count: stage.count, result: stage.result, current: stage.currentTitle, opensAfter: stage.gate } : null,
      pageTitle: wf.pageTitle,
      pageUrl: contentUrl(p.hostBaseUrl, wf),
      state: wf.state,
      overdue: open && !!wf.dueDate && wf.dueDate < today,
      boundVersion: wf.boundVersion,
      dueDate: wf.dueDate,
      waitingOn: open
        ? { users: outcome.waitingOnUsers.map((accountId) => ({ accountId, displayName: accountId })), groups: outcome.waitingOnGroups }
        : { users: [], groups: [] },
      lastDecision: last ? { decision: last.decision, accountId: last.approverId, displayName: last.approverId, at: last.decidedAt.toISOString() } : null,
      createdAt: wf.createdAt.toISOString(),
      approvedAt: wf.approvedAt?.toISOString() ?? null,
      expiresAt: wf.expiresAt?.toISOString() ?? null,
      appCannotReadSince: wf.appUnreadableSince?.toISOString() ?? null,
    };
  }

  private async names(clientKey: string, ids: string[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids)];
    const users = await Promise.all(unique.map((id) => this.deps.confluence.getUser(clientKey, id).catch(() => null)));
    return new Map(unique.map((id, i) => [id, users[i]?.displayName ?? id]));
  }

  /** The chain section must never break the dashboard: a failing source shows as "unknown". */
  private async chainStatus(clientKey: string): Promise<DashboardPage['chain']> {
    try {
      return await this.deps.verification.status(clientKey);
    } catch (err) {
      this.deps.logger.warn({ clientKey, err: String(err) }, 'verification status unavailable');
      return null;
    }
  }
}
