import type { ConfluencePage, ConfluencePageHead, ContentType } from '../confluence/confluence-client';
import type { Principal } from '../confluence/connect-auth';
import { sha256Hex } from '../lib/hash';
import { type Settled, settled, valueOf } from '../lib/settled';
import { AppCannotReadError, ConflictError, InputError, NotAllowedError, NotFoundError } from '../lib/errors';
import { evaluate } from './approval-rules';
import type { ApprovalsDeps, ApprovalsTx, DecisionRequest } from './approvals-ports';
import type { Decision, Workflow } from './approvals-types';
import type { Acting, DecisionInput, MacroParams, WorkflowView } from './approvals-view-types';
import { ApprovalsViews } from './approvals-view';
import { Batches, DEFAULT_DECISION_BATCHES, Ticket } from './decision-batches';
import { DecisionApplier, DecisionJob, DecisionResult } from './decision-apply';
import { dayOf, isActive } from './delegation';
import { PageChanges, setPageArchived } from './page-changes';
import type { RenderSnapshot } from '../view-cache/view-cache';
import { configChanged, WorkflowSetup } from './workflow-config';
import type { SpacePolicy } from './space-policy';

export type { ApprovalsDeps, RenderReads } from './approvals-ports';
export type { BehalfOption, DecisionInput, MacroParams, RefusalKind, WorkflowView } from './approvals-view-types';

/**
 * The approvals of a page: rendering the macro (creating and configuring its workflow), deciding (in batches
 * that share a transaction), and following the page's edits, moves and trash. Every change runs through
 * `deps.stores.transaction`, whose work gets the stores and the audit chain bound to that transaction.
 */
export class ApprovalsService {
  private readonly decisions: Batches<DecisionJob, DecisionResult>;
  private readonly views: ApprovalsViews;
  private readonly setup: WorkflowSetup;
  private readonly pages: PageChanges;

  /**
   * Whether each (tenant, content id) a decision read was a page or a blog post: an id is one or the other for good,
   * so the next decision asks Confluence about it the right way first. Bounded: emptied when full.
   */
  private readonly contentTypes = new Map<string, ContentType>();

  private rememberType(key: string, type: ContentType): void {
    if (this.contentTypes.get(key) === type) return;
    if (this.contentTypes.size >= 10_000) this.contentTypes.clear();
    this.contentTypes.set(key, type);
  }

  constructor(private readonly deps: ApprovalsDeps) {
    const applier = new DecisionApplier(deps);
    this.decisions = new Batches((clientKey, jobs, release) => applier.apply(clientKey, jobs, release), deps.decisionBatches ?? DEFAULT_DECISION_BATCHES);
    this.views = new ApprovalsViews(deps);
    this.setup = new WorkflowSetup(deps);
    this.pages = new PageChanges(deps);
  }

  private async renderSnapshot(clientKey: string, params: MacroParams): Promise<RenderSnapshot> {
    if (this.deps.renderReads) return this.deps.renderReads.renderSnapshot(clientKey, params.spaceKey, params.pageId, params.macroId);
    const store = this.deps.stores.workflows;
    const policy = await this.deps.policies.policyFor(clientKey, params.spaceKey);
    const workflow = await store.findWorkflow(clientKey, params.pageId, params.macroId);
    return {
      policy,
      workflow,
      decisions: workflow ? await store.decisionsOf(clientKey, workflow.id) : [],
      pageWorkflows: await store.workflowsOfPage(clientKey, params.pageId),
    };
  }

  /**
   * Viewing anything about a page needs read permission on it, checked with Confluence for this user.
   * When Confluence hides the page from the app itself, the app can say neither yes nor no: the caller
   * gets AppCannotReadError (nothing of the workflow), and the page's workflows are marked for the dashboard.
   */
  async assertCanRead(p: Principal, pageId: string): Promise<void> {
    const access = p.accountId ? await this.deps.confluence.readAccess(p.clientKey, pageId, p.accountId) : 'denied';
    if (access === 'denied') throw new NotAllowedError('You do not have permission to view this page.');
    if (access === 'unknown') {
      await this.markAppAccess(p.clientKey, pageId, false);
      throw new AppCannotReadError();
    }
  }

  /** Records that the app can (again) or cannot read a page; only writes when that changes. */
  async markAppAccess(clientKey: string, pageId: string, readable: boolean): Promise<void> {
    const changed = await this.deps.stores.workflows.setAppUnreadable(clientKey, pageId, readable ? null : this.deps.clock.now());
    if (changed) this.deps.logger.info({ clientKey, pageId, readable }, readable ? 'the app can read the page again' : 'the app cannot read the page (restricted)');
  }

  /** The page, read as the app; a 404 for content a signed request proved to exist means the app is shut out. */
  private async readPage(clientKey: string, pageId: string, version: number | undefined, type: ContentType): Promise<ConfluencePage>;
  private async readPage(clientKey: string, pageId: string, version: undefined, type: ContentType, headOnly: true): Promise<ConfluencePageHead>;
  private async readPage(clientKey: string, pageId: string, version: number | undefined, type: ContentType, headOnly = false): Promise<ConfluencePage | ConfluencePageHead> {
    try {
      return headOnly ? await this.deps.confluence.getPageHead(clientKey, pageId, { type }) : await this.deps.confluence.getPage(clientKey, pageId, { version, type });
    } catch (err) {
      throw await this.unreadable(clientKey, pageId, err);
    }
  }

  /** What a failed read of the page throws: not found means the app cannot read it (marked so); anything else as it came. */
  private async unreadable(clientKey: string, pageId: string, err: unknown): Promise<unknown> {
    if (!(err instanceof NotFoundError)) return err;
    await this.markAppAccess(clientKey, pageId, false);
    return new AppCannotReadError();
  }

  /**
   * The macro on a page: creates the workflow the first time, applies changed parameters, and
   * catches up with a page version newer than the bound one (a webhook may have been lost).
   */
  async render(p: Principal, params: MacroParams): Promise<WorkflowView> {
    const { snapshot, page } = await this.readyToRender(p, params);
    return (await this.renderFrom(p, params, snapshot, page)).view;
  }

  /**
   * What a render needs, asked at once (on a real site the viewer's permission is often a call to Confluence, and
   * the first render after an edit reads the page too): the permission, the render's snapshot, and the page when
   * the snapshot says the render will read it (no workflow yet, or a version newer than the bound one). Nothing is
   * answered or written before the permission is known; a refusal is the answer.
   */
  private async readyToRender(p: Principal, params: MacroParams): Promise<{ snapshot: RenderSnapshot; page: Promise<Settled<ConfluencePage>> | null }> {
    const canRead = settled(this.assertCanRead(p, params.pageId));
    const snapshot = await settled(this.renderSnapshot(p.clientKey, params));
    const wf = snapshot.ok ? snapshot.value.workflow : undefined;
    const page =
      wf !== undefined && readsPage(wf, params)
        ? settled(this.deps.confluence.getPage(p.clientKey, params.pageId, { version: params.pageVersion, type: params.contentType }))
        : null;
    await valueOf(canRead);
    if (!snapshot.ok) throw snapshot.error;
    return { snapshot: snapshot.value, page };
  }

  /**
   * The macro as HTML (`toHtml` of `render`'s view), or the HTML of an earlier render that changed nothing, by
   * the same viewer, on the same day, of the same signed request (`request`: the URL's parameters without its
   * JWT), read from the same cached snapshot — which a write to the tenant's rows would have dropped
   * (src/view-cache/rendered-views.ts). The viewer's read permission is checked every time, before anything is answered.
   */
  async renderHtml(p: Principal, params: MacroParams, request: string, toHtml: (view: WorkflowView) => Promise<string>): Promise<string> {
    const { snapshot, page } = await this.readyToRender(p, params);
    const rendered = this.deps.renderedViews;
    const key = `${p.accountId}\n${dayOf(this.deps.clock.now())}\n${request}`;
    const kept = rendered?.get(snapshot, key);
    if (kept !== undefined) return kept;
    const { view, unchanged } = await this.renderFrom(p, params, snapshot, page);
    const html = await toHtml(view);
    if (unchanged) rendered?.set(snapshot, key, html);
    return html;
  }

  /** The render from its snapshot; `unchanged` when it wrote nothing (the view is the snapshot's alone). */
  private async renderFrom(
    p: Principal,
    params: MacroParams,
    snapshot: RenderSnapshot,
    asked: Promise<Settled<ConfluencePage>> | null,
  ): Promise<{ view: WorkflowView; unchanged: boolean }> {
    const policy = snapshot.policy;
    const found = snapshot.workflow;
    const config = this.setup.configFrom(params, policy, found?.createdAt);
    // The page at the signed version: as readyToRender asked for it, else read now.
    const pageAtVersion = async () => {
      const r = asked ? await asked : null;
      if (!r) return this.readPage(p.clientKey, params.pageId, params.pageVersion, params.contentType);
      if (r.ok) return r.value;
      throw await this.unreadable(p.clientKey, params.pageId, r.error);
    };
    let wf: Workflow;
    if (!found) {
      const page = await pageAtVersion();
      wf = await this.setup.create(p, params, config, page);
    } else {
      wf = found;
      if (wf.appUnreadableSince) await this.markAppAccess(p.clientKey, wf.pageId, true);
      // Confluence signs the page's current space into the URL: a moved page takes its workflows along.
      if (params.spaceKey !== wf.spaceKey) {
        wf = (await this.pages.followPageSpace(p.clientKey, wf.pageId, params.spaceKey, { type: 'user', accountId: p.accountId }, 'render')).find((w) => w.id === wf.id) ?? wf;
      }
      if (readsPage(wf, params)) {
        const page = await pageAtVersion();
        const list = await this.pages.applyPageVersion(p.clientKey, params.pageId, page, { type: 'user', accountId: p.accountId }, 'render');
        wf = list.find((w) => w.macroId === params.macroId) ?? wf;
      }
      // Parameters signed for an older version (page history) do not configure the workflow.
      if (params.pageVersion >= wf.boundVersion && configChanged(wf, config)) wf = await this.setup.reconfigure(p, wf, config);
    }
    // The snapshot's decisions belong to the workflow as it was read; after any change they are read again.
    const decisions = wf === found ? snapshot.decisions : undefined;
    const today = dayOf(this.deps.clock.now());
    const delegations = snapshot.delegations?.filter((d) => d.delegateId === p.accountId && isActive(d, today));
    const view = await this.views.view(p, wf, policy, params.pageVersion, decisions, wf === found ? snapshot.pageWorkflows : undefined, delegations);
    return { view, unchanged: wf === found && !found.appUnreadableSince && snapshot.delegations !== undefined };
  }

  /**
   * The workflow for a static render (PDF/Word export, email, feeds: the macro's `renderModes`), read
   * only: nothing is created or changed. Confluence signs the request for the exact URL; when it names a
   * user, that user's read permission is checked as for the iframe. Null when no workflow exists yet.
   */
  async staticView(p: Principal, pageId: string, macroId: string): Promise<WorkflowView | null> {
    if (p.accountId) await this.assertCanRead(p, pageId);
    const wf = await this.deps.stores.workflows.findWorkflow(p.clientKey, pageId, macroId);
    if (!wf) return null;
    return this.views.view(p, wf, await this.deps.policies.policyFor(p.clientKey, wf.spaceKey));
  }

  /** `viewedVersion`: the page version the caller is reading (its context JWT), when it names one. */
  async getWorkflow(p: Principal, pageId: string, macroId: string, viewedVersion: number | null = null): Promise<WorkflowView> {
    await this.assertCanRead(p, pageId);
    const wf = await this.deps.stores.workflows.findWorkflow(p.clientKey, pageId, macroId);
    if (!wf) throw new NotFoundError('There is no approval workflow for this macro yet: open the page once to create it.');
    return this.views.view(p, wf, await this.deps.policies.policyFor(p.clientKey, wf.spaceKey), viewedVersion);
  }

  /**
   * A decision is for the bound version only, and only from someone reading it: both the body's
   * `pageVersion` and the version the caller's context JWT names (when it names one) must be the bound one.
   *
   * With an `idempotencyKey`, the key is recorded with the decision in the same transaction, and a repeat of
   * the request (its answer was lost, say to a database restart) gets the recorded decision back, `replayed`,
   * before any check that the first decision itself changed (a settled workflow takes no more decisions).
   * Once the transaction has committed nothing more is read: the answer comes from what it returned, so a
   * recorded decision is never reported as a failure.
   */
  async decide(
    p: Principal,
    pageId: string,
    macroId: string,
    input: DecisionInput,
    viewedVersion: number | null = null,
    idempotencyKey: string | null = null,
  ): Promise<{ view: WorkflowView; replayed: boolean }> {
    // Announced to the tenant's batches before its checks: a batch about to start alone may wait for it (Batches).
    const ticket = this.decisions.coming(p.clientKey);
    try {
      return await this.checkAndDecide(ticket, p, pageId, macroId, input, viewedVersion, idempotencyKey);
    } finally {
      ticket.cancel();
    }
  }

  private async checkAndDecide(
    ticket: Ticket<DecisionJob, DecisionResult>,
    p: Principal,
    pageId: string,
    macroId: string,
    input: DecisionInput,
    viewedVersion: number | null,
    idempotencyKey: string | null,
  ): Promise<{ view: WorkflowView; replayed: boolean }> {
    // Three questions asked at once, one wait instead of three (on a real site the permission answer a user's render
    // left is often past its 60 s by the time they decide, so that is a call to Confluence too); nothing is
    // answered, and nothing changed, before the permission is known:
    // - whether this user can read the page;
    // - where the page is now, since it may have moved (a lost page_moved webhook) and the current space's policy
    //   decides: its head only, as a page (what nearly every workflow is on) unless a decision here found this id
    //   to be a blog post;
    // - the workflow, with the decision its Idempotency-Key recorded (the macro sends a key with every decision).
    const canRead = settled(this.assertCanRead(p, pageId));
    const typeKey = `${p.clientKey}\n${pageId}`;
    const guess = this.contentTypes.get(typeKey) ?? 'page';
    const headEarly = settled(this.deps.confluence.getPageHead(p.clientKey, pageId, { type: guess }));
    const foundEarly = settled(
      idempotencyKey
        ? this.deps.stores.workflows.findWorkflowAndRequest(p.clientKey, pageId, macroId, idempotencyKey)
        : this.deps.stores.workflows.findWorkflow(p.clientKey, pageId, macroId).then((workflow) => workflow && { workflow, earlier: null }),
    );
    await valueOf(canRead);
    if (input.decision === 'reject' && !input.comment.trim()) {
      throw new InputError('A rejection needs a comment that says why.');
    }
    const found = await valueOf(foundEarly);
    if (!found) throw new NotFoundError('There is no approval workflow for this macro yet: open the page once to create it.');
    let current = found.workflow;
    this.rememberType(typeKey, current.contentType);
    const requestHash = decisionRequestHash(input);
    if (found.earlier) return { view: await this.replay(p, current, found.earlier, requestHash, viewedVersion), replayed: true };
    // Guessed wrong (a blog post's first decision here): asked again, as what the workflow is on.
    const early = current.contentType === guess ? await headEarly : null;
    if (early && !early.ok) throw await this.unreadable(p.clientKey, pageId, early.error);
    const now = early?.ok ? early.value : await this.readPage(p.clientKey, pageId, undefined, current.contentType, true);
    if (now.spaceKey && now.spaceKey !== current.spaceKey) {
      current = (await this.pages.followPageSpace(p.clientKey, pageId, now.spaceKey, { type: 'user', accountId: p.accountId }, 'decision')).find((w) => w.id === current!.id) ?? current;
    }
    const policy = await this.deps.policies.policyFor(p.clientKey, current.spaceKey);
    // The one point where the caller becomes the person the decision counts for (a delegate: the delegator).
    const on = await this.views.actingFor(p, input.onBehalfOf ?? null, policy);
    const viaGroups = await this.views.listedGroupsOf(p.clientKey, on.accountId, current.groups);

    const result = await ticket.submit({ p, pageId, macroId, input, viewedVersion, idempotencyKey, requestHash, on, viaGroups, policy });
    if (result.kind === 'repeat') return { view: await this.replay(p, result.wf, result.earlier, requestHash, viewedVersion), replayed: true };
    const { wf, decisions, page } = result;
    this.deps.logger.info({ clientKey: p.clientKey, pageId, workflowId: wf.id, decision: input.decision, state: wf.state, delegationId: on.delegation?.id }, 'decision recorded');
    return { view: await this.recordedView(p, { on, viaGroups, policy, viewedVersion }, result), replayed: false };
  }

  /**
   * The answer to a decision just committed. It is recorded, so it is answered as recorded: what the view asks
   * of Confluence and the database afterwards (the caller's own listed groups when they decided for someone, the
   * delegations they could decide for next) is left out of the view when that fails, and the failure logged.
   */
  private async recordedView(
    p: Principal,
    asked: { on: Acting; viaGroups: string[]; policy: SpacePolicy; viewedVersion: number | null },
    { wf, decisions, page }: { wf: Workflow; decisions: Decision[]; page: Workflow[] },
  ): Promise<WorkflowView> {
    const { on, policy, viewedVersion } = asked;
    const viaGroups = asked.viaGroups.filter((g) => wf.groups.includes(g));
    try {
      const ownGroups = on.delegation ? await this.views.listedGroupsOf(p.clientKey, p.accountId, wf.groups) : viaGroups;
      return this.views.viewOf(p, wf, decisions, ownGroups, policy, viewedVersion, page, await this.views.behalfOptions(p, wf, decisions, policy, page));
    } catch (err) {
      this.deps.logger.warn({ clientKey: p.clientKey, pageId: wf.pageId, workflowId: wf.id, err }, 'decision recorded; its answer leaves out what could not be read after the commit');
      return this.views.viewOf(p, wf, decisions, on.delegation ? [] : viaGroups, policy, viewedVersion, page);
    }
  }

  /**
   * The answer to a repeated request: the workflow as it is now, for the same person and the same decision.
   * A key reused by someone else or for another decision is refused, without saying what it recorded.
   */
  private async replay(p: Principal, wf: Workflow, earlier: DecisionRequest, requestHash: string, viewedVersion: number | null): Promise<WorkflowView> {
    if ((earlier.decision.delegateId ?? earlier.decision.approverId) !== p.accountId || earlier.requestHash !== requestHash) {
      throw new ConflictError('This Idempotency-Key was already used for a different decision. Send a new key for a new decision.');
    }
    this.deps.logger.info({ clientKey: p.clientKey, pageId: wf.pageId, workflowId: wf.id, decisionId: earlier.decision.id }, 'decision request repeated: answered with the recorded decision');
    return this.views.view(p, wf, await this.deps.policies.policyFor(p.clientKey, wf.spaceKey), viewedVersion);
  }

  /** See PageChanges.applyPageVersion. */
  applyPageVersion(...args: Parameters<PageChanges['applyPageVersion']>): Promise<Workflow[]> {
    return this.pages.applyPageVersion(...args);
  }

  /** See PageChanges.followPageSpace. */
  followPageSpace(...args: Parameters<PageChanges['followPageSpace']>): Promise<Workflow[]> {
    return this.pages.followPageSpace(...args);
  }

  /** See PageChanges.expireDue. */
  expireDue(clientKey: string, now: Date): Promise<Workflow[]> {
    return this.pages.expireDue(clientKey, now);
  }

  /** The page was trashed, removed or restored, inside the caller's transaction (see page-changes.ts). */
  setPageArchived(
    tx: ApprovalsTx,
    clientKey: string,
    pageId: string,
    archive: boolean,
    actor: { type: 'confluence'; accountId?: string | null },
    cause: string,
  ): Promise<Workflow[]> {
    return setPageArchived(tx, clientKey, pageId, archive, actor, cause);
  }

  /** The workflows on a page, unlocked (e.g. to skip page events that concern no workflow). */
  async workflowsOfPage(clientKey: string, pageId: string): Promise<Workflow[]> {
    return this.deps.stores.workflows.workflowsOfPage(clientKey, pageId);
  }

  /** Open workflows with who is still awaited in the current round (reminders). */
  async awaitingDecisions(
    clientKey: string,
    now: Date,
  ): Promise<Array<{ workflow: Workflow; waitingOnUsers: string[]; waitingOnGroups: string[]; overdue: boolean }>> {
    const today = now.toISOString().slice(0, 10);
    // Two queries for the whole tenant, not two per workflow.
    const [workflows, decisions] = await Promise.all([this.deps.stores.workflows.openWorkflows(clientKey), this.deps.stores.workflows.currentDecisionsOfOpen(clientKey)]);
    const byWorkflow = new Map<string, Decision[]>();
    for (const d of decisions) byWorkflow.set(d.workflowId, [...(byWorkflow.get(d.workflowId) ?? []), d]);
    const out = [];
    for (const wf of workflows) {
      const outcome = evaluate(wf, (byWorkflow.get(wf.id) ?? []).filter((d) => d.round === wf.round));
      out.push({ workflow: wf, waitingOnUsers: outcome.waitingOnUsers, waitingOnGroups: outcome.waitingOnGroups, overdue: !!wf.dueDate && wf.dueDate < today });
    }
    return out;
  }
}

/** Whether a render of `params` reads the page: to create the workflow, or to catch up with a newer version. */
function readsPage(wf: Workflow | null, params: MacroParams): boolean {
  return !wf || params.pageVersion > wf.boundVersion;
}

/** What makes two decision requests the same request: the decision, its comment, the page version (and whom it is for). */
function decisionRequestHash(input: DecisionInput): string {
  // The person decided for is part of the request; without one the hash is what it always was (stored keys keep matching).
  const parts: unknown[] = [input.decision, input.comment, input.pageVersion];
  if (input.onBehalfOf) parts.push(input.onBehalfOf);
  return sha256Hex(JSON.stringify(parts));
}
