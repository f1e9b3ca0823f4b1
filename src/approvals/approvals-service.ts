import type { Knex } from 'knex';
import type { AuditEventInput, AuditLog } from '../audit/audit-log';
import type { ConfluenceClient, ConfluencePage, ContentType } from '../confluence/confluence-client';
import type { Principal } from '../confluence/connect-auth';
import type { Clock } from '../lib/clock';
import { sha256Hex } from '../lib/hash';
import { AppCannotReadError, ConflictError, InputError, NotAllowedError, NotFoundError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { DAY_MS, decideRefusal, DecisionKind, describeRule, evaluate, OPEN_STATES, Outcome, WorkflowState } from './approval-rules';
import { ApprovalsStore, DecisionRequest, requestKey } from './approvals-store';
import type { Decision, Workflow, WorkflowConfig } from './approvals-types';
import { Batches, Settled } from './decision-batches';
import { dayOf, Delegation, DelegationLookup, isActive, onBehalfRefusal } from './delegation';
import { macroPosition } from './macro-position';
import { SpacePolicy, SpacePolicyProvider } from './space-policy';
import { stageGate, stagePlace, StagePlace, stageSummary, sequenceOf, sequenceState, successors } from './stages';
import type { RenderSnapshot } from '../view-cache/view-cache';

/** Reads of a macro render in one call (src/view-cache: cached until a write to the tenant's rows). */
export interface RenderReads {
  renderSnapshot(clientKey: string, spaceKey: string, pageId: string, macroId: string): Promise<RenderSnapshot>;
}

/** The signed macro parameters (every one of them is covered by the iframe JWT's qsh). */
export interface MacroParams {
  pageId: string;
  /** Confluence's `page.type`: the macro sits on a page or a blog post. */
  contentType: ContentType;
  pageVersion: number;
  spaceKey: string;
  macroId: string;
  /** The macro's optional title; null when it has none. */
  title: string | null;
  /** The title of the stage this macro waits for (ordered stages); null when it waits for nobody. */
  after: string | null;
  approvers: string[];
  groups: string[];
  rule: WorkflowConfig['rule'] | null;
  quorum: number | null;
  rejections: number | null;
  due: string | null;
  review: number | null;
}

export interface DecisionInput {
  decision: DecisionKind;
  comment: string;
  pageVersion: number;
  /** A delegate deciding for someone out of office: that person's accountId (issue 16). */
  onBehalfOf?: string | null;
}

/** Who a decision counts for: the caller, or the delegator whose active delegation names the caller. */
interface Acting {
  accountId: string;
  delegation: Delegation | null;
}

/** Someone the viewer stands in for (an active delegation naming them), and whether they may decide for them here. */
export interface BehalfOption {
  accountId: string;
  delegationId: string;
  endsOn: string;
  canDecide: boolean;
  reason: string | null;
  refusal: RefusalKind | null;
  myDecision: Decision | null;
}

/** What the macro and the API show: the workflow, its decisions and what the viewer may do. */
export interface WorkflowView {
  workflow: Workflow;
  decisions: Decision[];
  /** Decisions that count now (current round). */
  current: Decision[];
  outcome: Outcome;
  ruleText: string;
  overdue: boolean;
  /** The space's rules the screens explain: who may approve their own version, what an edit does. */
  policy: Pick<SpacePolicy, 'allowSelfApproval' | 'resetOnEdit'>;
  /** The page's ordered stages and where the page stands, when this workflow is one of them. */
  stages: ReturnType<typeof stageSummary>;
  viewer: {
    accountId: string;
    canDecide: boolean;
    reason: string | null;
    /** Which rule keeps the viewer from deciding, so a screen can say what would change it. */
    refusal: RefusalKind | null;
    /** Listed groups the viewer decides for (open workflows only). */
    viaGroups: string[];
    myDecision: Decision | null;
    viewedVersion: number | null;
    /** The people the viewer stands in for now (delegations), each with whether the viewer may decide for them here. */
    onBehalfOf: BehalfOption[];
  };
}

/** A decision that passed the checks needing no lock, waiting for its batch (group commit). */
interface DecisionJob {
  p: Principal;
  pageId: string;
  macroId: string;
  input: DecisionInput;
  viewedVersion: number | null;
  idempotencyKey: string | null;
  requestHash: string;
  /** Who the decision counts for (resolved once, in `decide`); `viaGroups` are that person's listed groups. */
  on: Acting;
  viaGroups: string[];
  policy: SpacePolicy;
}

type DecisionResult = { kind: 'recorded'; wf: Workflow; decisions: Decision[]; page: Workflow[] } | { kind: 'repeat'; earlier: DecisionRequest; wf: Workflow };

/**
 * Why someone may not decide: not listed, wrote the bound version, the workflow is closed, its stage has not
 * opened yet, another version is open; for a delegate also: the delegate wrote the bound version, or the space
 * does not allow delegation.
 */
export type RefusalKind = 'not-approver' | 'author' | 'closed' | 'stage-closed' | 'other-version' | 'delegate-is-author' | 'delegation-forbidden';


export class ApprovalsService {
  private readonly decisions: Batches<DecisionJob, DecisionResult>;

  constructor(
    private readonly deps: {
      db: Knex;
      store: ApprovalsStore;
      audit: AuditLog;
      confluence: ConfluenceClient;
      policies: SpacePolicyProvider;
      clock: Clock;
      logger: Logger;
      /** Active delegations (issue 16); without it nobody decides on someone else's behalf. */
      delegations?: DelegationLookup;
      /** What a render reads (policy, workflow, decisions), from a cache invalidated by every write; the stores without it. */
      renderReads?: RenderReads;
      /**
       * Group commit of one tenant's decisions (issue 15): how many share a transaction at most, and how many
       * such transactions of a tenant run at once. `{ maxBatch: 1 }` applies each decision alone.
       */
      decisionBatches?: { maxBatch: number; maxConcurrent: number };
    },
  ) {
    this.decisions = new Batches((clientKey, jobs) => this.applyDecisions(clientKey, jobs), deps.decisionBatches ?? { maxBatch: 32, maxConcurrent: 4 });
  }

  private async renderSnapshot(clientKey: string, params: MacroParams): Promise<RenderSnapshot> {
    if (this.deps.renderReads) return this.deps.renderReads.renderSnapshot(clientKey, params.spaceKey, params.pageId, params.macroId);
    const policy = await this.deps.policies.policyFor(clientKey, params.spaceKey);
    const workflow = await this.deps.store.findWorkflow(clientKey, params.pageId, params.macroId);
    return {
      policy,
      workflow,
      decisions: workflow ? await this.deps.store.decisionsOf(clientKey, workflow.id) : [],
      pageWorkflows: await this.deps.store.workflowsOfPage(clientKey, params.pageId),
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
    const changed = await this.deps.store.setAppUnreadable(clientKey, pageId, readable ? null : this.deps.clock.now());
    if (changed) this.deps.logger.info({ clientKey, pageId, readable }, readable ? 'the app can read the page again' : 'the app cannot read the page (restricted)');
  }

  /** The page, read as the app; a 404 for content a signed request proved to exist means the app is shut out. */
  private async readPage(clientKey: string, pageId: string, version: number | undefined, type: ContentType): Promise<ConfluencePage> {
    try {
      return await this.deps.confluence.getPage(clientKey, pageId, { version, type });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      await this.markAppAccess(clientKey, pageId, false);
      throw new AppCannotReadError();
    }
  }

  /**
   * The macro on a page: creates the workflow the first time, applies changed parameters, and
   * catches up with a page version newer than the bound one (a webhook may have been lost).
   */
  async render(p: Principal, params: MacroParams): Promise<WorkflowView> {
    await this.assertCanRead(p, params.pageId);
    const snapshot = await this.renderSnapshot(p.clientKey, params);
    const policy = snapshot.policy;
    const config = this.configFrom(params, policy);
    const found = snapshot.workflow;
    let wf: Workflow;
    if (!found) {
      const page = await this.readPage(p.clientKey, params.pageId, params.pageVersion, params.contentType);
      wf = await this.create(p, params, config, page);
    } else {
      wf = found;
      if (wf.appUnreadableSince) await this.markAppAccess(p.clientKey, wf.pageId, true);
      // Confluence signs the page's current space into the URL: a moved page takes its workflows along.
      if (params.spaceKey !== wf.spaceKey) {
        wf = (await this.followPageSpace(p.clientKey, wf.pageId, params.spaceKey, { type: 'user', accountId: p.accountId }, 'render')).find((w) => w.id === wf.id) ?? wf;
      }
      if (params.pageVersion > wf.boundVersion) {
        const page = await this.readPage(p.clientKey, params.pageId, params.pageVersion, params.contentType);
        const list = await this.applyPageVersion(p.clientKey, params.pageId, page, { type: 'user', accountId: p.accountId }, 'render');
        wf = list.find((w) => w.macroId === params.macroId) ?? wf;
      }
      // Parameters signed for an older version (page history) do not configure the workflow.
      if (params.pageVersion >= wf.boundVersion && configChanged(wf, config)) wf = await this.reconfigure(p, wf, config);
    }
    // The snapshot's decisions belong to the workflow as it was read; after any change they are read again.
    const decisions = wf === found ? snapshot.decisions : undefined;
    const today = dayOf(this.deps.clock.now());
    const delegations = snapshot.delegations?.filter((d) => d.delegateId === p.accountId && isActive(d, today));
    return this.view(p, wf, policy, params.pageVersion, decisions, wf === found ? snapshot.pageWorkflows : undefined, delegations);
  }

  /**
   * The workflow for a static render (PDF/Word export, email, feeds: the macro's `renderModes`), read
   * only: nothing is created or changed. Confluence signs the request for the exact URL; when it names a
   * user, that user's read permission is checked as for the iframe. Null when no workflow exists yet.
   */
  async staticView(p: Principal, pageId: string, macroId: string): Promise<WorkflowView | null> {
    if (p.accountId) await this.assertCanRead(p, pageId);
    const wf = await this.deps.store.findWorkflow(p.clientKey, pageId, macroId);
    if (!wf) return null;
    return this.view(p, wf, await this.deps.policies.policyFor(p.clientKey, wf.spaceKey));
  }

  /** `viewedVersion`: the page version the caller is reading (its context JWT), when it names one. */
  async getWorkflow(p: Principal, pageId: string, macroId: string, viewedVersion: number | null = null): Promise<WorkflowView> {
    await this.assertCanRead(p, pageId);
    const wf = await this.deps.store.findWorkflow(p.clientKey, pageId, macroId);
    if (!wf) throw new NotFoundError('There is no approval workflow for this macro yet: open the page once to create it.');
    return this.view(p, wf, await this.deps.policies.policyFor(p.clientKey, wf.spaceKey), viewedVersion);
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
    await this.assertCanRead(p, pageId);
    if (input.decision === 'reject' && !input.comment.trim()) {
      throw new InputError('A rejection needs a comment that says why.');
    }
    let current = await this.deps.store.findWorkflow(p.clientKey, pageId, macroId);
    if (!current) throw new NotFoundError('There is no approval workflow for this macro yet: open the page once to create it.');
    const requestHash = decisionRequestHash(input);
    if (idempotencyKey) {
      const earlier = await this.deps.store.findDecisionRequest(p.clientKey, current.id, idempotencyKey);
      if (earlier) return { view: await this.replay(p, current, earlier, requestHash, viewedVersion), replayed: true };
    }
    // The page may have moved since the workflow last saw it (a lost page_moved webhook): the current
    // space's policy decides, so ask Confluence where the page is now.
    const now = await this.readPage(p.clientKey, pageId, undefined, current.contentType);
    if (now.spaceKey && now.spaceKey !== current.spaceKey) {
      current = (await this.followPageSpace(p.clientKey, pageId, now.spaceKey, { type: 'user', accountId: p.accountId }, 'decision')).find((w) => w.id === current!.id) ?? current;
    }
    const policy = await this.deps.policies.policyFor(p.clientKey, current.spaceKey);
    // The one point where the caller becomes the person the decision counts for (a delegate: the delegator).
    const on = await this.actingFor(p, input.onBehalfOf ?? null, policy);
    const viaGroups = await this.listedGroupsOf(p.clientKey, on.accountId, current.groups);

    const result = await this.decisions.submit(p.clientKey, { p, pageId, macroId, input, viewedVersion, idempotencyKey, requestHash, on, viaGroups, policy });
    if (result.kind === 'repeat') return { view: await this.replay(p, result.wf, result.earlier, requestHash, viewedVersion), replayed: true };
    const { wf, decisions, page } = result;
    this.deps.logger.info({ clientKey: p.clientKey, pageId, workflowId: wf.id, decision: input.decision, state: wf.state, delegationId: on.delegation?.id }, 'decision recorded');
    const ownGroups = on.delegation ? await this.listedGroupsOf(p.clientKey, p.accountId, wf.groups) : viaGroups;
    return { view: this.viewOf(p, wf, decisions, ownGroups, policy, viewedVersion, page, await this.behalfOptions(p, wf, decisions, policy, page)), replayed: false };
  }

  /**
   * Applies decisions of one tenant in one transaction, each in arrival order against the state the ones
   * before it left (the same checks as alone: a refused one writes nothing and is answered with its error,
   * the others go on); then one statement each for the decisions, their keys and their workflows, and all
   * their audit events appended with the commit. A database error sinks the transaction: then each decision
   * is applied alone, so that it fails only its own request.
   */
  private async applyDecisions(clientKey: string, jobs: DecisionJob[]): Promise<Array<Settled<DecisionResult>>> {
    try {
      return await this.applyDecisionsTogether(clientKey, jobs);
    } catch (err) {
      // Lost with the commit in flight: they may be recorded, so applying them again could record them twice.
      if (err instanceof CommitOutcomeUnknown) return jobs.map(() => ({ ok: false, error: err.cause }));
      if (jobs.length === 1) return [{ ok: false, error: err }];
      this.deps.logger.warn({ clientKey, decisions: jobs.length, err }, 'a batch of decisions failed: applying them one by one');
      const alone: Array<Settled<DecisionResult>> = [];
      for (const job of jobs) alone.push((await this.applyDecisions(clientKey, [job]))[0]);
      return alone;
    }
  }

  private async applyDecisionsTogether(clientKey: string, jobs: DecisionJob[]): Promise<Array<Settled<DecisionResult>>> {
    const { store } = this.deps;
    let commitSent = false;
    let committed: Array<Settled<DecisionResult>> | null = null;
    try {
      return await this.deps.db.transaction(async (trx) => {
        // Locks in the same order as every transaction (workflows, then the tenant's audit head); everything that
        // does not need the head lock comes before it, so that it is held for one statement and the commit.
        const macroKey = (pageId: string, macroId: string) => `${pageId}\n${macroId}`;
        const macros = [...new Map(jobs.map((j) => [macroKey(j.pageId, j.macroId), { pageId: j.pageId, macroId: j.macroId }])).values()];
        const workflows = new Map((await store.lockWorkflowsByMacro(clientKey, macros, trx)).map((w) => [macroKey(w.pageId, w.macroId), w]));
        const keys = [...new Set(jobs.map((j) => j.idempotencyKey).filter((k): k is string => k !== null))];
        // Read once, after the locks: a request with the same key that waited for them finds what the first recorded.
        const { decisions: decisionsOf, requests } = await store.decisionsAndRequestsOf(clientKey, [...workflows.values()].map((w) => w.id), keys, trx);
        // The other workflows of these pages, for the stage gate: read after the locks, then as this batch leaves them.
        const pageRows = await store.workflowsOfPages(clientKey, [...new Set(macros.map((m) => m.pageId))], trx);
        const pageNow = (pageId: string) => pageRows.filter((w) => w.pageId === pageId).map((w) => workflows.get(macroKey(w.pageId, w.macroId)) ?? w);

        const answers: Array<Settled<DecisionResult> | { recorded: Decision; wf: Workflow; decisions: Decision[]; page: Workflow[] }> = [];
        const recorded: Array<{ decision: Decision; request: { idempotencyKey: string; requestHash: string } | null }> = [];
        const changes = new Map<string, { id: string; lastDecisionAt: Date; settled: { state: Workflow['state']; approvedAt: Date | null; expiresAt: Date | null } | null }>();
        const events: AuditEventInput[] = [];
        // The people delegates decide for appear in the events as refs, taken before the head lock.
        const delegators = [...new Set(jobs.filter((j) => j.on.delegation).map((j) => j.on.accountId))];
        const delegatorRefs = new Map(delegators.length ? (await this.deps.audit.refs(trx, clientKey, delegators)).map((ref, i) => [delegators[i], ref]) : []);
        for (const job of jobs) {
          const { p, input } = job;
          const locked = workflows.get(macroKey(job.pageId, job.macroId));
          if (!locked) {
            answers.push({ ok: false, error: new NotFoundError('This approval workflow no longer exists.') });
            continue;
          }
          const earlier = job.idempotencyKey ? requests.get(requestKey(locked.id, job.idempotencyKey)) : undefined;
          if (earlier) {
            answers.push({ ok: true, value: { kind: 'repeat', earlier, wf: locked } });
            continue;
          }
          const refused = this.refusal(job.on.accountId, locked, job.viaGroups, job.policy, pageNow(locked.pageId), job.on.delegation ? p.accountId : null)?.error
            ?? (input.pageVersion !== locked.boundVersion
              ? new ConflictError(`The page changed — reload. This workflow is now bound to version ${locked.boundVersion}, not ${input.pageVersion}.`)
              : otherVersionRefusal(locked, job.viewedVersion));
          if (refused) {
            answers.push({ ok: false, error: refused });
            continue;
          }
          const now = this.deps.clock.now();
          // Its id comes with the insert below; until then it counts as the newest decision of its workflow.
          const decision: Decision = {
            id: 0,
            workflowId: locked.id,
            approverId: job.on.accountId,
            decision: input.decision,
            comment: input.comment,
            pageVersion: locked.boundVersion,
            round: locked.round,
            viaGroups: job.viaGroups,
            decidedAt: now,
            delegateId: job.on.delegation ? p.accountId : null,
            delegationId: job.on.delegation?.id ?? null,
          };
          const list = decisionsOf.get(locked.id)!;
          list.push(decision);
          list.sort((a, b) => a.decidedAt.getTime() - b.decidedAt.getTime());
          const request = job.idempotencyKey ? { idempotencyKey: job.idempotencyKey, requestHash: job.requestHash } : null;
          if (request) requests.set(requestKey(locked.id, request.idempotencyKey), { ...request, decision });
          recorded.push({ decision, request });
          const outcome = evaluate(locked, list.filter((d) => d.round === locked.round));
          const patch = settled(outcome, locked.reviewDays, now);
          const updated: Workflow = { ...locked, lastDecisionAt: now, ...patch };
          workflows.set(macroKey(job.pageId, job.macroId), updated);
          const settledNow = outcome.result !== 'open' ? { state: updated.state, approvedAt: updated.approvedAt, expiresAt: updated.expiresAt } : null;
          changes.set(locked.id, { id: locked.id, lastDecisionAt: now, settled: settledNow ?? changes.get(locked.id)?.settled ?? null });
          // The page with this workflow as the decision leaves it (its stage's place, the stages that open with it).
          const page = pageNow(locked.pageId);
          events.push({
            action: input.decision === 'approve' ? 'decision.approved' : 'decision.rejected',
            actor: { type: 'user', accountId: p.accountId },
            ...workflowRef(locked),
            data: titled(
              locked,
              staged(stagePlace(locked, page), {
                decision: input.decision,
                comment: input.comment,
                round: locked.round,
                viaGroups: job.viaGroups,
                ...(job.on.delegation ? { onBehalfOf: delegatorRefs.get(job.on.accountId)!, delegationId: job.on.delegation.id } : {}),
              }),
            ),
          });
          if (outcome.result !== 'open') {
            events.push({
              action: outcome.result === 'approved' ? 'workflow.approved' : 'workflow.rejected',
              actor: { type: 'user', accountId: p.accountId },
              ...workflowRef(updated),
              data: titled(updated, {
                round: updated.round,
                approvals: outcome.approvals,
                rejections: outcome.rejections,
                expiresAt: updated.expiresAt ? updated.expiresAt.toISOString() : null,
              }),
            });
            events.push(...stageEvents(updated, page, { type: 'user', accountId: p.accountId }));
          }
          answers.push({ recorded: decision, wf: updated, decisions: [...list], page });
        }
        if (!recorded.length) return answers as Array<Settled<DecisionResult>>;

        const inserted = await store.insertDecisions(clientKey, recorded.map((r) => r.decision), trx);
        recorded.forEach((r, i) => Object.assign(r.decision, { id: inserted[i].id, decidedAt: inserted[i].decidedAt }));
        await store.insertDecisionRequests(
          clientKey,
          recorded.filter((r) => r.request).map((r) => ({ workflowId: r.decision.workflowId, ...r.request!, decisionId: r.decision.id })),
          trx,
        );
        const stored = new Map((await store.updateWorkflowsAfterDecisions(clientKey, [...changes.values()], trx)).map((w) => [w.id, w]));
        // The transaction's last work: the events, then the commit, in one round trip once the head is locked.
        commitSent = true;
        await this.deps.audit.appendAndCommit(trx, clientKey, events);
        committed = answers.map((a, i) => {
          if (!('recorded' in a)) return a;
          // The last decision on a workflow answers with the workflow as stored; an earlier one with the state it left.
          const last = !answers.slice(i + 1).some((b) => 'recorded' in b && b.wf.id === a.wf.id);
          const wf = last ? stored.get(a.wf.id) ?? a.wf : a.wf;
          return { ok: true as const, value: { kind: 'recorded' as const, wf, decisions: a.decisions, page: a.page.map((w) => (w.id === wf.id ? wf : w)) } };
        });
        return committed;
      });
    } catch (err) {
      // Committed, and then knex's closing statement (on an already empty transaction) failed: they are recorded.
      if (committed) return committed;
      // PostgreSQL answered with an error: nothing was committed. No answer at all: the commit may have happened.
      if (commitSent && !isDatabaseError(err)) throw new CommitOutcomeUnknown(err);
      throw err;
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
    return this.view(p, wf, await this.deps.policies.policyFor(p.clientKey, wf.spaceKey), viewedVersion);
  }

  /**
   * A page now has `page.version`: every workflow on it bound to an older version follows the space's
   * `resetOnEdit` policy. Content changed (or any edit, or never, by policy) → outdated with a new round;
   * otherwise rebound with its state kept. Idempotent: an older or equal version changes nothing.
   */
  async applyPageVersion(
    clientKey: string,
    pageId: string,
    page: ConfluencePage,
    actor: { type: 'user' | 'confluence' | 'system'; accountId?: string | null },
    cause: 'render' | 'webhook',
  ): Promise<Workflow[]> {
    const bodyHash = sha256Hex(page.body);
    return this.deps.db.transaction(async (trx) => {
      const workflows = await this.deps.store.lockWorkflowsOfPage(clientKey, pageId, trx);
      const out: Workflow[] = [];
      const resets: Array<{ before: Workflow; after: Workflow }> = [];
      for (const wf of workflows) {
        if (page.version <= wf.boundVersion || wf.state === 'archived') {
          out.push(wf);
          continue;
        }
        const { updated, reset } = await this.followVersion(trx, clientKey, wf, page, bodyHash, actor, cause);
        if (reset) resets.push({ before: wf, after: updated });
        out.push(updated);
      }
      await this.resetStages(trx, clientKey, resets, out, actor);
      return out;
    });
  }

  /** One workflow bound to an older version follows `page` under its space's reset policy (outdated or rebound). */
  private async followVersion(
    trx: Knex.Transaction,
    clientKey: string,
    wf: Workflow,
    page: ConfluencePage,
    bodyHash: string,
    actor: { type: 'user' | 'confluence' | 'system'; accountId?: string | null },
    cause: 'render' | 'webhook',
  ): Promise<{ updated: Workflow; reset: boolean }> {
    const policy = await this.deps.policies.policyFor(clientKey, wf.spaceKey, trx);
    const contentChanged = bodyHash !== wf.bodyHash;
    // A pending round nobody has decided in has nothing to lose: it follows the page and stays pending.
    const undecided = wf.state === 'pending' && !(await this.deps.store.decisionsOf(clientKey, wf.id, trx)).some((d) => d.round === wf.round);
    const reset = !undecided && (policy.resetOnEdit === 'any' || (policy.resetOnEdit === 'content' && contentChanged));
    const from = wf.boundVersion;
    const base = {
      boundVersion: page.version,
      bodyHash,
      boundAuthorId: page.versionAuthorId,
      pageTitle: page.title || wf.pageTitle,
      pagePosition: macroPosition(page.body, wf.macroId) ?? wf.pagePosition,
    };
    const updated = await this.deps.store.updateWorkflow(
      clientKey,
      wf.id,
      reset
        ? { ...base, state: 'outdated', round: wf.round + 1, approvedAt: null, expiresAt: null }
        : base,
      trx,
    );
    await this.deps.audit.append(trx, clientKey, {
      action: reset ? 'workflow.outdated' : 'workflow.rebound',
      actor: actor.type === 'system' ? { type: 'system' } : actor,
      ...workflowRef(updated),
      data: titled(updated, {
        fromVersion: from,
        toVersion: page.version,
        contentChanged,
        resetOnEdit: policy.resetOnEdit,
        previousState: wf.state,
        cause,
        reason: followReason(reset, contentChanged, undecided),
      }),
    });
    return { updated, reset };
  }

  /** Ordered stages: every stage the edit reset goes back to the start of the sequence, which opens at stage 1. */
  private async resetStages(
    trx: Knex.Transaction,
    clientKey: string,
    resets: Array<{ before: Workflow; after: Workflow }>,
    out: Workflow[],
    actor: { type: 'user' | 'confluence' | 'system'; accountId?: string | null },
  ): Promise<void> {
    for (const { before, after } of resets) {
      const place = stagePlace(after, out);
      if (!place) continue;
      await this.deps.audit.append(trx, clientKey, {
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
    return this.deps.db.transaction(async (trx) => {
      const out: Workflow[] = [];
      for (const wf of await this.deps.store.lockWorkflowsOfPage(clientKey, pageId, trx)) {
        if (wf.spaceKey === spaceKey) {
          out.push(wf);
          continue;
        }
        const updated = await this.deps.store.updateWorkflow(clientKey, wf.id, { spaceKey }, trx);
        await this.deps.audit.append(trx, clientKey, {
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

  /** The workflows on a page, unlocked (e.g. to skip page events that concern no workflow). */
  async workflowsOfPage(clientKey: string, pageId: string): Promise<Workflow[]> {
    return this.deps.store.workflowsOfPage(clientKey, pageId);
  }

  /**
   * The page was trashed or removed (`archive`: every workflow on it becomes `archived`, remembering its
   * state) or restored (archived workflows go back to the state they had). Runs in the caller's
   * transaction (the page-event inbox marks the event handled in the same one); a repeat changes nothing.
   */
  async setPageArchived(
    trx: Knex.Transaction,
    clientKey: string,
    pageId: string,
    archive: boolean,
    actor: { type: 'confluence'; accountId?: string | null },
    cause: string,
  ): Promise<Workflow[]> {
    const changed: Workflow[] = [];
    for (const wf of await this.deps.store.lockWorkflowsOfPage(clientKey, pageId, trx)) {
      if ((wf.state === 'archived') === archive) continue;
      const state: WorkflowState = archive ? 'archived' : wf.stateBeforeArchive ?? 'pending';
      const updated = await this.deps.store.updateWorkflow(clientKey, wf.id, { state, stateBeforeArchive: archive ? wf.state : null }, trx);
      await this.deps.audit.append(
        trx,
        clientKey,
        archive
          ? { action: 'workflow.archived', actor, ...workflowRef(updated), data: titled(updated, { previousState: wf.state, cause }) }
          : { action: 'workflow.restored', actor, ...workflowRef(updated), data: titled(updated, { state, cause }) },
      );
      changed.push(updated);
    }
    return changed;
  }

  /**
   * Recertification: approved workflows whose review interval (days since approval) has passed at
   * `now` become `expired` and need new decisions (a new round). One transaction and audit event each.
   * A stage's expiry applies to its whole sequence: every other stage of it starts a new round too (an
   * approved one becomes `expired`), with a `stage.reset` each, so the sequence is recertified from stage 1.
   */
  async expireDue(clientKey: string, now: Date): Promise<Workflow[]> {
    const expired: Workflow[] = [];
    for (const candidate of await this.deps.store.dueForExpiry(clientKey, now)) {
      const wf = await this.deps.db.transaction(async (trx) => {
        // The page's workflows, locked in the order every page-wide change takes them: a stage's expiry resets its sequence.
        const onPage = await this.deps.store.lockWorkflowsOfPage(clientKey, candidate.pageId, trx);
        const locked = onPage.find((w) => w.id === candidate.id);
        if (!locked || locked.state !== 'approved' || !locked.approvedAt || !locked.reviewDays) return null;
        if (locked.approvedAt.getTime() + locked.reviewDays * DAY_MS > now.getTime()) return null;
        const updated = await this.deps.store.updateWorkflow(
          clientKey,
          locked.id,
          { state: 'expired', round: locked.round + 1, expiresAt: null },
          trx,
        );
        await this.deps.audit.append(trx, clientKey, {
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
        const sequence = sequenceOf(locked, onPage) ?? [];
        for (const stage of sequence) {
          if (stage.state === 'archived') continue;
          const again =
            stage.id === locked.id
              ? updated
              : await this.deps.store.updateWorkflow(
                  clientKey,
                  stage.id,
                  { state: stage.state === 'approved' || stage.state === 'rejected' ? 'expired' : stage.state, round: stage.round + 1, approvedAt: null, expiresAt: null },
                  trx,
                );
          await this.deps.audit.append(trx, clientKey, {
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
        return updated;
      });
      if (wf) expired.push(wf);
    }
    if (expired.length) this.deps.logger.info({ clientKey, expired: expired.length }, 'workflows expired for recertification');
    return expired;
  }

  /** Open workflows with who is still awaited in the current round (reminders). */
  async awaitingDecisions(
    clientKey: string,
    now: Date,
  ): Promise<Array<{ workflow: Workflow; waitingOnUsers: string[]; waitingOnGroups: string[]; overdue: boolean }>> {
    const today = now.toISOString().slice(0, 10);
    // Two queries for the whole tenant, not two per workflow.
    const [workflows, decisions] = await Promise.all([this.deps.store.openWorkflows(clientKey), this.deps.store.currentDecisionsOfOpen(clientKey)]);
    const byWorkflow = new Map<string, Decision[]>();
    for (const d of decisions) byWorkflow.set(d.workflowId, [...(byWorkflow.get(d.workflowId) ?? []), d]);
    const out = [];
    for (const wf of workflows) {
      const outcome = evaluate(wf, (byWorkflow.get(wf.id) ?? []).filter((d) => d.round === wf.round));
      out.push({ workflow: wf, waitingOnUsers: outcome.waitingOnUsers, waitingOnGroups: outcome.waitingOnGroups, overdue: !!wf.dueDate && wf.dueDate < today });
    }
    return out;
  }

  private configFrom(params: MacroParams, policy: SpacePolicy): WorkflowConfig {
    const d = policy.defaults;
    const rule = params.rule ?? d.rule;
    const dueDate =
      params.due ??
      (d.dueOffsetDays !== null ? new Date(this.deps.clock.now().getTime() + d.dueOffsetDays * DAY_MS).toISOString().slice(0, 10) : null);
    if (params.after !== null && params.after === params.title) {
      throw new InputError(`After names this macro's own title (“${params.title}”): a stage waits for another Approvals macro on the page.`);
    }
    return {
      title: params.title,
      after: params.after,
      rule,
      quorum: rule === 'quorum' ? params.quorum ?? d.quorum ?? 1 : null,
      rejections: params.rejections ?? d.rejections,
      approvers: params.approvers.length ? params.approvers : d.approvers,
      groups: params.groups.length ? params.groups : d.groups,
      dueDate,
      reviewDays: params.review ?? d.reviewDays,
    };
  }

  private async create(p: Principal, params: MacroParams, config: WorkflowConfig, page: ConfluencePage): Promise<Workflow> {
    return this.deps.db.transaction(async (trx) => {
      const inserted = await this.deps.store.insertWorkflow(
        p.clientKey,
        {
          pageId: params.pageId,
          contentType: params.contentType,
          macroId: params.macroId,
          pagePosition: macroPosition(page.body, params.macroId),
          spaceKey: params.spaceKey,
          pageTitle: page.title,
          state: 'pending',
          ...config,
          boundVersion: page.version,
          bodyHash: sha256Hex(page.body),
          boundAuthorId: page.versionAuthorId,
        },
        trx,
      );
      if (!inserted) {
        // Another request created it a moment ago.
        const existing = await this.deps.store.findWorkflow(p.clientKey, params.pageId, params.macroId, trx);
        if (!existing) throw new ConflictError('The workflow is being created: reload.');
        return existing;
      }
      const approverRefs = await this.deps.audit.refs(trx, p.clientKey, inserted.approvers);
      await this.deps.audit.append(trx, p.clientKey, {
        action: 'workflow.created',
        actor: { type: 'user', accountId: p.accountId },
        ...workflowRef(inserted),
        data: titled(inserted, { macroId: inserted.macroId, config: auditConfig(inserted, approverRefs) }),
      });
      // A later stage whose macro is first rendered after the stages before it were approved opens as it is created.
      if (inserted.after !== null) {
        const page = await this.deps.store.workflowsOfPages(p.clientKey, [inserted.pageId], trx);
        const place = stagePlace(inserted, page);
        if (place && stageGate(inserted, page) === null) {
          await this.deps.audit.append(trx, p.clientKey, {
            action: 'stage.opened',
            actor: { type: 'user', accountId: p.accountId },
            ...workflowRef(inserted),
            data: titled(inserted, { stage: place, round: inserted.round }),
          });
        }
      }
      return inserted;
    });
  }

  private async reconfigure(p: Principal, wf: Workflow, config: WorkflowConfig): Promise<Workflow> {
    return this.deps.db.transaction(async (trx) => {
      const locked = await this.deps.store.lockWorkflow(p.clientKey, wf.pageId, wf.macroId, trx);
      if (!locked || !configChanged(locked, config)) return locked ?? wf;
      const [beforeRefs, afterRefs] = [
        await this.deps.audit.refs(trx, p.clientKey, locked.approvers),
        await this.deps.audit.refs(trx, p.clientKey, config.approvers),
      ];
      // A stricter or looser rule can settle an open workflow at once.
      let patch: Partial<Workflow> = { ...config };
      if (OPEN_STATES.includes(locked.state)) {
        const decisions = await this.deps.store.decisionsOf(p.clientKey, locked.id, trx);
        const outcome = evaluate(config, decisions.filter((d) => d.round === locked.round));
        patch = { ...patch, ...settled(outcome, config.reviewDays, this.deps.clock.now()) };
      }
      const updated = await this.deps.store.updateWorkflow(p.clientKey, locked.id, patch, trx);
      await this.deps.audit.append(trx, p.clientKey, {
        action: 'workflow.configured',
        actor: { type: 'user', accountId: p.accountId },
        ...workflowRef(updated),
        data: titled(updated, { before: auditConfig(locked, beforeRefs), after: auditConfig(updated, afterRefs), state: updated.state }),
      });
      if (updated.state !== locked.state && (updated.state === 'approved' || updated.state === 'rejected')) {
        await this.deps.audit.append(trx, p.clientKey, {
          action: updated.state === 'approved' ? 'workflow.approved' : 'workflow.rejected',
          actor: { type: 'user', accountId: p.accountId },
          ...workflowRef(updated),
          data: titled(updated, { round: updated.round, cause: 'configuration changed' }),
        });
        const page = (await this.deps.store.workflowsOfPages(p.clientKey, [updated.pageId], trx)).map((w) => (w.id === updated.id ? updated : w));
        for (const e of stageEvents(updated, page, { type: 'user', accountId: p.accountId })) await this.deps.audit.append(trx, p.clientKey, e);
      }
      return updated;
    });
  }

  /** The listed groups this person belongs to (only those matter for deciding). */
  private async listedGroupsOf(clientKey: string, accountId: string, groups: string[]): Promise<string[]> {
    if (!groups.length || !accountId) return [];
    const mine = await this.deps.confluence.groupsOf(clientKey, accountId);
    return groups.filter((g) => mine.includes(g));
  }

  /**
   * The person a decision counts for: the caller, or — with `onBehalfOf` — the person whose delegation active
   * today names the caller as delegate, in a space that allows delegation. Only a delegation made by that very
   * person counts: what was delegated to someone is not theirs to pass on.
   */
  private async actingFor(p: Principal, onBehalfOf: string | null, policy: SpacePolicy): Promise<Acting> {
    if (onBehalfOf === null || onBehalfOf === p.accountId) return { accountId: p.accountId, delegation: null };
    if (!policy.allowDelegation) throw new NotAllowedError('This space does not allow delegation: only the approvers themselves decide here.');
    const today = dayOf(this.deps.clock.now());
    const delegation = (await this.deps.delegations?.activeTo(p.clientKey, p.accountId, today))?.find((d) => d.delegatorId === onBehalfOf);
    if (!delegation) {
      throw new NotAllowedError(
        'You have no active delegation from this person: a delegate decides for them only from the first through the last day they named, and a delegation cannot be passed on.',
      );
    }
    return { accountId: onBehalfOf, delegation };
  }

  /** The people the viewer stands in for today, and whether the viewer may decide for each on this workflow. */
  private async behalfOptions(
    p: Principal,
    wf: Workflow,
    decisions: readonly Decision[],
    policy: SpacePolicy,
    page: readonly Workflow[],
    known?: readonly Delegation[],
  ): Promise<BehalfOption[]> {
    if (!p.accountId || !OPEN_STATES.includes(wf.state) || !policy.allowDelegation) return [];
    const delegations = known ?? (await this.deps.delegations?.activeTo(p.clientKey, p.accountId, dayOf(this.deps.clock.now()))) ?? [];
    const out: BehalfOption[] = [];
    for (const d of delegations) {
      const viaGroups = await this.listedGroupsOf(p.clientKey, d.delegatorId, wf.groups);
      const refusal = this.refusal(d.delegatorId, wf, viaGroups, policy, page, p.accountId);
      // Someone neither listed nor in a listed group has nothing here to delegate: not an option at all.
      if (refusal?.kind === 'not-approver') continue;
      const theirs = decisions.filter((x) => x.round === wf.round && x.approverId === d.delegatorId);
      out.push({
        accountId: d.delegatorId,
        delegationId: d.id,
        endsOn: d.endsOn,
        canDecide: refusal === null,
        reason: refusal?.error.message ?? null,
        refusal: refusal?.kind ?? null,
        myDecision: theirs.length ? theirs[theirs.length - 1] : null,
      });
    }
    return out;
  }

  /**
   * Why this person (or `delegateId` for them) may not decide now, or null when they may; `page`: the workflows
   * on its page (ordered stages).
   */
  private refusal(
    accountId: string,
    wf: Workflow,
    viaGroups: string[],
    policy: SpacePolicy,
    page: readonly Workflow[],
    delegateId: string | null = null,
  ): { kind: RefusalKind; error: Error } | null {
    const kind = delegateId === null ? decideRefusal(wf, accountId, viaGroups, policy.allowSelfApproval) : onBehalfRefusal(wf, accountId, delegateId, viaGroups, policy);
    switch (kind) {
      case null: {
        // A stage takes decisions only once every stage before it is approved.
        const gate = stageGate(wf, page);
        return gate ? { kind: 'stage-closed', error: new ConflictError(gate) } : null;
      }
      case 'not-approver':
        return {
          kind: 'not-approver',
          error: new NotAllowedError(
            delegateId === null
              ? 'You are not an approver of this workflow: only the listed people and members of the listed groups can decide.'
              : 'The person you stand in for is not an approver of this workflow: a delegate decides only where they could.',
          ),
        };
      case 'author':
        return {
          kind: 'author',
          error: new NotAllowedError(
            delegateId === null
              ? `Someone other than the author of version ${wf.boundVersion} must approve it: you wrote that version (separation of duties; this space does not allow self-approval).`
              : `The person you stand in for wrote version ${wf.boundVersion}: an author cannot approve through a delegate (separation of duties).`,
          ),
        };
      case 'delegate-is-author':
        return {
          kind: 'delegate-is-author',
          error: new NotAllowedError(
            `Someone other than the author of version ${wf.boundVersion} must approve it: you wrote that version, so you cannot approve it on anyone's behalf either (separation of duties).`,
          ),
        };
      case 'delegation-forbidden':
        return { kind: 'delegation-forbidden', error: new NotAllowedError('This space does not allow delegation: only the approvers themselves decide here.') };
      case 'closed':
        return { kind: 'closed', error: new ConflictError(`This workflow is ${wf.state}: it takes no more decisions.`) };
    }
  }

  private async view(
    p: Principal,
    wf: Workflow,
    policy: SpacePolicy,
    viewedVersion: number | null = null,
    known?: readonly Decision[],
    knownPage?: readonly Workflow[],
    delegations?: readonly Delegation[],
  ): Promise<WorkflowView> {
    const decisions = known ? [...known] : await this.deps.store.decisionsOf(p.clientKey, wf.id);
    const page = knownPage ?? (await this.deps.store.workflowsOfPage(p.clientKey, wf.pageId));
    const viaGroups = OPEN_STATES.includes(wf.state) ? await this.listedGroupsOf(p.clientKey, p.accountId, wf.groups) : [];
    return this.viewOf(p, wf, decisions, viaGroups, policy, viewedVersion, page, await this.behalfOptions(p, wf, decisions, policy, page, delegations));
  }

  /** The view from what is already known: no database, no Confluence. */
  private viewOf(
    p: Principal,
    wf: Workflow,
    decisions: Decision[],
    viaGroups: string[],
    policy: SpacePolicy,
    viewedVersion: number | null,
    knownPage: readonly Workflow[],
    onBehalfOf: BehalfOption[] = [],
  ): WorkflowView {
    // The page as read, with this workflow as it is now.
    const page = knownPage.some((w) => w.id === wf.id) ? knownPage.map((w) => (w.id === wf.id ? wf : w)) : [...knownPage, wf];
    const current = decisions.filter((d) => d.round === wf.round);
    const outcome = evaluate(wf, current);
    const other = otherVersionRefusal(wf, viewedVersion);
    const refusal = this.refusal(p.accountId, wf, OPEN_STATES.includes(wf.state) ? viaGroups : [], policy, page) ?? (other ? { kind: 'other-version' as const, error: other } : null);
    const mine = current.filter((d) => d.approverId === p.accountId);
    const today = this.deps.clock.now().toISOString().slice(0, 10);
    return {
      workflow: wf,
      decisions,
      current,
      outcome,
      ruleText: describeRule(wf),
      overdue: !!wf.dueDate && wf.dueDate < today && OPEN_STATES.includes(wf.state),
      policy: { allowSelfApproval: policy.allowSelfApproval, resetOnEdit: policy.resetOnEdit },
      stages: stageSummary(wf, page),
      viewer: {
        accountId: p.accountId,
        canDecide: refusal === null,
        reason: refusal?.error.message ?? null,
        refusal: refusal?.kind ?? null,
        viaGroups: OPEN_STATES.includes(wf.state) ? viaGroups : [],
        myDecision: mine.length ? mine[mine.length - 1] : null,
        viewedVersion,
        // Reading another version is read-only for a delegate too.
        onBehalfOf: other ? onBehalfOf.map((o) => ({ ...o, canDecide: false, reason: other.message, refusal: 'other-version' as const })) : onBehalfOf,
      },
    };
  }
}

/** What makes two decision requests the same request: the decision, its comment, the page version (and whom it is for). */
function decisionRequestHash(input: DecisionInput): string {
  // The person decided for is part of the request; without one the hash is what it always was (stored keys keep matching).
  const parts: unknown[] = [input.decision, input.comment, input.pageVersion];
  if (input.onBehalfOf) parts.push(input.onBehalfOf);
  return sha256Hex(JSON.stringify(parts));
}

/** A transaction whose commit was sent but not answered: it may or may not have committed. */
class CommitOutcomeUnknown extends Error {
  constructor(readonly cause: unknown) {
    super('the commit was sent but not answered');
    this.name = 'CommitOutcomeUnknown';
  }
}

/**
 * An ERROR PostgreSQL answered with (it aborts the transaction), as opposed to a lost connection or a FATAL
 * termination, which may come after the commit.
 */
function isDatabaseError(err: unknown): boolean {
  return (err as { severity?: unknown } | null)?.severity === 'ERROR';
}

/** A person only ever decides on the version they are reading: any other version is read-only. */
function otherVersionRefusal(wf: Workflow, viewedVersion: number | null): ConflictError | null {
  if (viewedVersion === null || viewedVersion === wf.boundVersion) return null;
  return new ConflictError(
    `You are viewing version ${viewedVersion}; approvals are for version ${wf.boundVersion} — open the current version.`,
  );
}

/** What a settled outcome changes on a workflow: its state, and when an approval was given and lapses. */
function settled(outcome: Outcome, reviewDays: number | null, now: Date): Partial<Workflow> {
  if (outcome.result === 'open') return {};
  const approved = outcome.result === 'approved';
  return {
    state: outcome.result,
    approvedAt: approved ? now : null,
    expiresAt: approved && reviewDays ? new Date(now.getTime() + reviewDays * DAY_MS) : null,
  };
}

/** The space, page and workflow an audit event about this workflow names. */
function workflowRef(wf: Workflow) {
  return { spaceKey: wf.spaceKey, page: pageRef(wf), workflowId: wf.id };
}

/**
 * An event's data with the workflow's macro title (`workflowTitle`) when it has one, so every event of a titled
 * workflow names it and the evidence CSV's `workflow_title` column can show it from the canonical text.
 */
function titled<T extends object>(wf: Workflow, data: T): T & { workflowTitle?: string } {
  return wf.title ? { ...data, workflowTitle: wf.title } : data;
}

/** An event's data with the workflow's place among its page's stages, when it is one (the CSV's `stage`). */
function staged<T extends object>(place: StagePlace | null, data: T): T & { stage?: StagePlace } {
  return place ? { ...data, stage: place } : data;
}

/**
 * The stage events that follow a workflow settling (`wf` as it is now, `page` the workflows on its page as they
 * are now): `stage.approved` and `stage.opened` for each stage that opens with it, or `stage.rejected`. None for
 * a workflow that is not a stage.
 */
function stageEvents(wf: Workflow, page: readonly Workflow[], actor: AuditEventInput['actor']): AuditEventInput[] {
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

function auditConfig(wf: WorkflowConfig, approverRefs: string[]) {
  return {
    title: wf.title,
    // Only a stage names the stage it waits for: the configuration of other workflows keeps its earlier shape.
    ...(wf.after !== null ? { after: wf.after } : {}),
    rule: wf.rule,
    quorum: wf.quorum,
    rejections: wf.rejections,
    approvers: approverRefs,
    groups: wf.groups,
    due: wf.dueDate,
    reviewDays: wf.reviewDays,
  };
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function configChanged(wf: Workflow, c: WorkflowConfig): boolean {
  return (
    wf.title !== c.title ||
    wf.after !== c.after ||
    wf.rule !== c.rule ||
    wf.quorum !== c.quorum ||
    wf.rejections !== c.rejections ||
    !sameList(wf.approvers, c.approvers) ||
    !sameList(wf.groups, c.groups) ||
    wf.dueDate !== c.dueDate ||
    wf.reviewDays !== c.reviewDays
  );
}

/** Why a workflow was outdated or rebound by a new page version, in words for the audit trail. */
function followReason(reset: boolean, contentChanged: boolean, undecided: boolean): string {
  if (reset) return contentChanged ? 'the page content changed: decisions for the old version no longer count' : 'the space resets approvals on any edit';
  if (!contentChanged) return 'only the title or metadata changed: the approved content is the same';
  return undecided ? 'nobody had decided in this round yet: the workflow follows the new version' : 'the space keeps approvals on edits';
}
