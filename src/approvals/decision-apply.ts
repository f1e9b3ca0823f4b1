import type { AuditEventInput } from '../audit/audit-log';
import type { Principal } from '../confluence/connect-auth';
import { ConflictError, isDatabaseUnavailable, NotFoundError } from '../lib/errors';
import type { Settled } from '../lib/settled';
import { evaluate } from './approval-rules';
import { ApprovalsDeps, DecisionBatchTx, DecisionChange, DecisionRequest, requestKey } from './approvals-ports';
import type { Decision, Workflow } from './approvals-types';
import type { Acting, DecisionInput } from './approvals-view-types';
import { otherVersionRefusal, refusal } from './approvals-view';
import type { SpacePolicy } from './space-policy';
import { stagePlace } from './stages';
import { settled, stageEvents, staged, titled, workflowRef } from './workflow-events';

/** A decision that passed the checks needing no lock, waiting for its batch (group commit). */
export interface DecisionJob {
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

export type DecisionResult = { kind: 'recorded'; wf: Workflow; decisions: Decision[]; page: Workflow[] } | { kind: 'repeat'; earlier: DecisionRequest; wf: Workflow };

type Answer = Settled<DecisionResult> | { recorded: Decision; wf: Workflow; decisions: Decision[]; page: Workflow[] };

/** What a batch read after its locks, and what it has decided so far (each decision sees the ones before it). */
interface Batch {
  workflows: Map<string, Workflow>;
  decisionsOf: Map<string, Decision[]>;
  requests: Map<string, DecisionRequest>;
  pageNow: (pageId: string) => Workflow[];
  /** The refs of the people in the batch's events. */
  refs: Map<string, string>;
  answers: Answer[];
  recorded: Array<{ decision: Decision; request: { idempotencyKey: string; requestHash: string } | null }>;
  changes: Map<string, DecisionChange>;
  events: AuditEventInput[];
}

const macroKey = (pageId: string, macroId: string) => `${pageId}\n${macroId}`;

/**
 * Applies decisions of one tenant in one transaction, each in arrival order against the state the ones
 * before it left (the same checks as alone: a refused one writes nothing and is answered with its error,
 * the others go on); then one statement each for the decisions, their keys and their workflows, and all
 * their audit events appended with the commit. A database error sinks the transaction: then each decision
 * is applied alone, so that it fails only its own request.
 */
export class DecisionApplier {
  constructor(private readonly deps: Pick<ApprovalsDeps, 'stores' | 'clock' | 'logger'>) {}

  /** `release`: called once the batch's commit is sent (Batches: the tenant's next batch may then start). */
  async apply(clientKey: string, jobs: DecisionJob[], release: () => void = () => undefined): Promise<Array<Settled<DecisionResult>>> {
    try {
      return await this.together(clientKey, jobs, release);
    } catch (err) {
      // Lost with the commit in flight: they may be recorded, so applying them again could record them twice.
      if (err instanceof CommitOutcomeUnknown) return jobs.map(() => ({ ok: false, error: err.cause }));
      // No database to try them on: one by one would only be as many more waits for a connection (each up to the
      // pool's acquire timeout) while the tenant's next batches queue behind them. Each caller gets the 503.
      if (jobs.length === 1 || isDatabaseUnavailable(err)) return jobs.map(() => ({ ok: false, error: err }));
      this.deps.logger.warn({ clientKey, decisions: jobs.length, err }, 'a batch of decisions failed: applying them one by one');
      const alone: Array<Settled<DecisionResult>> = [];
      for (const job of jobs) alone.push((await this.apply(clientKey, [job]))[0]);
      return alone;
    }
  }

  private async together(clientKey: string, jobs: DecisionJob[], release: () => void): Promise<Array<Settled<DecisionResult>>> {
    const progress = { commitSent: false };
    try {
      // Answered as soon as PostgreSQL has acknowledged the commit (sent with the events), so that the
      // tenant's next batch can start.
      return await this.deps.stores.decisionBatch(async (tx) => {
        const batch = await readLocked(tx, clientKey, jobs);
        for (const job of jobs) applyOne(batch, job, this.deps.clock.now());
        if (!batch.recorded.length) return batch.answers as Array<Settled<DecisionResult>>;
        return persist(tx, clientKey, batch, () => {
          progress.commitSent = true;
          // The next batch reads only once it holds the head lock, which this one keeps until its commit.
          release();
        });
      });
    } catch (err) {
      // PostgreSQL answered with an error: nothing was committed. No answer at all: the commit may have happened.
      if (progress.commitSent && !isDatabaseError(err)) throw new CommitOutcomeUnknown(err);
      throw err;
    }
  }
}

/**
 * One round trip (DecisionBatchTx.lockAndRead): the batch's workflows locked, the people's refs, the tenant's
 * audit head locked (the order every transaction takes them), then what the batch reads. The people are each
 * job's decider and whoever a delegate decides for: their subjects in the chain are created before the head
 * lock, also for a decision the batch then refuses.
 */
async function readLocked(tx: DecisionBatchTx, clientKey: string, jobs: DecisionJob[]): Promise<Batch> {
  const macros = [...new Map(jobs.map((j) => [macroKey(j.pageId, j.macroId), { pageId: j.pageId, macroId: j.macroId }])).values()];
  const read = await tx.lockAndRead(clientKey, {
    macros,
    idempotencyKeys: [...new Set(jobs.map((j) => j.idempotencyKey).filter((k): k is string => k !== null))],
    pageIds: [...new Set(macros.map((m) => m.pageId))],
    people: [...new Set(jobs.flatMap((j) => (j.on.delegation ? [j.p.accountId, j.on.accountId] : [j.p.accountId])))],
  });
  const workflows = new Map(read.workflows.map((w) => [macroKey(w.pageId, w.macroId), w]));
  // The other workflows of these pages, for the stage gate, are taken as this batch leaves them.
  const pageNow = (pageId: string) => read.pageWorkflows.filter((w) => w.pageId === pageId).map((w) => workflows.get(macroKey(w.pageId, w.macroId)) ?? w);
  return { workflows, decisionsOf: read.decisions, requests: read.requests, pageNow, refs: read.refs, answers: [], recorded: [], changes: new Map(), events: [] };
}

/** Why this job may not be recorded on `locked` now (who decides, the stage gate, the version), or null. */
function jobRefusal(job: DecisionJob, locked: Workflow, page: Workflow[]): Error | null {
  return (
    refusal(job.on.accountId, locked, job.viaGroups, job.policy, page, job.on.delegation ? job.p.accountId : null)?.error ??
    (job.input.pageVersion !== locked.boundVersion
      ? new ConflictError(`The page changed — reload. This workflow is now bound to version ${locked.boundVersion}, not ${job.input.pageVersion}.`)
      : otherVersionRefusal(locked, job.viewedVersion))
  );
}

/** One job against the batch as the jobs before it left it: answered, refused, or recorded with its events. */
function applyOne(batch: Batch, asked: DecisionJob, now: Date): void {
  const locked = batch.workflows.get(macroKey(asked.pageId, asked.macroId));
  if (!locked) return void batch.answers.push({ ok: false, error: new NotFoundError('This approval workflow no longer exists.') });
  // The person's listed groups were asked of Confluence before the lock: only those the workflow still lists count
  // (a macro edited meanwhile to drop a group takes that group's members off it, as for a decision made after).
  const job = { ...asked, viaGroups: asked.viaGroups.filter((g) => locked.groups.includes(g)) };
  const earlier = job.idempotencyKey ? batch.requests.get(requestKey(locked.id, job.idempotencyKey)) : undefined;
  if (earlier) return void batch.answers.push({ ok: true, value: { kind: 'repeat', earlier, wf: locked } });
  const refused = jobRefusal(job, locked, batch.pageNow(locked.pageId));
  if (refused) return void batch.answers.push({ ok: false, error: refused });
  // Its id comes with the insert; until then it counts as the newest decision of its workflow.
  const decision: Decision = {
    id: 0,
    workflowId: locked.id,
    approverId: job.on.accountId,
    decision: job.input.decision,
    comment: job.input.comment,
    pageVersion: locked.boundVersion,
    round: locked.round,
    viaGroups: job.viaGroups,
    decidedAt: now,
    delegateId: job.on.delegation ? job.p.accountId : null,
    delegationId: job.on.delegation?.id ?? null,
  };
  const list = batch.decisionsOf.get(locked.id)!;
  list.push(decision);
  list.sort((a, b) => a.decidedAt.getTime() - b.decidedAt.getTime());
  const request = job.idempotencyKey ? { idempotencyKey: job.idempotencyKey, requestHash: job.requestHash } : null;
  if (request) batch.requests.set(requestKey(locked.id, request.idempotencyKey), { ...request, decision });
  batch.recorded.push({ decision, request });
  const outcome = evaluate(locked, list.filter((d) => d.round === locked.round));
  const updated: Workflow = { ...locked, lastDecisionAt: now, ...settled(outcome, locked.reviewDays, now) };
  batch.workflows.set(macroKey(job.pageId, job.macroId), updated);
  const settledNow = outcome.result !== 'open' ? { state: updated.state, approvedAt: updated.approvedAt, expiresAt: updated.expiresAt } : null;
  batch.changes.set(locked.id, { id: locked.id, lastDecisionAt: now, settled: settledNow ?? batch.changes.get(locked.id)?.settled ?? null });
  // The page with this workflow as the decision leaves it (its stage's place, the stages that open with it).
  const page = batch.pageNow(locked.pageId);
  batch.events.push(...decisionEvents(batch, job, { locked, updated, page }, outcome));
  batch.answers.push({ recorded: decision, wf: updated, decisions: [...list], page });
}

/** The decision's event, and when it settled the workflow, the outcome's and its stages' events. */
function decisionEvents(
  batch: Batch,
  job: DecisionJob,
  at: { locked: Workflow; updated: Workflow; page: Workflow[] },
  outcome: ReturnType<typeof evaluate>,
): AuditEventInput[] {
  const { locked, updated, page } = at;
  const actor = { type: 'user' as const, accountId: job.p.accountId };
  const events: AuditEventInput[] = [
    {
      action: job.input.decision === 'approve' ? 'decision.approved' : 'decision.rejected',
      actor,
      ...workflowRef(locked),
      data: titled(
        locked,
        staged(stagePlace(locked, page), {
          decision: job.input.decision,
          comment: job.input.comment,
          round: locked.round,
          viaGroups: job.viaGroups,
          ...(job.on.delegation ? { onBehalfOf: batch.refs.get(job.on.accountId)!, delegationId: job.on.delegation.id } : {}),
        }),
      ),
    },
  ];
  if (outcome.result === 'open') return events;
  events.push({
    action: outcome.result === 'approved' ? 'workflow.approved' : 'workflow.rejected',
    actor,
    ...workflowRef(updated),
    data: titled(updated, {
      round: updated.round,
      approvals: outcome.approvals,
      rejections: outcome.rejections,
      expiresAt: updated.expiresAt ? updated.expiresAt.toISOString() : null,
    }),
  });
  return [...events, ...stageEvents(updated, page, actor)];
}

/**
 * The batch's writes, its audit events and the commit, in one round trip (DecisionBatchTx.writeAndCommit);
 * `commitSent` once they are on their way.
 */
async function persist(tx: DecisionBatchTx, clientKey: string, batch: Batch, commitSent: () => void): Promise<Array<Settled<DecisionResult>>> {
  const writes = {
    decisions: batch.recorded.map((r) => r.decision),
    requests: batch.recorded.flatMap((r, decision) => (r.request ? [{ decision, ...r.request }] : [])),
    changes: [...batch.changes.values()],
    events: batch.events,
  };
  const written = await tx.writeAndCommit(clientKey, writes, commitSent);
  batch.recorded.forEach((r, i) => (r.decision.id = written.decisionIds[i]));
  const stored = new Map(written.workflows.map((w) => [w.id, w]));
  const answers = batch.answers;
  return answers.map((a, i) => {
    if (!('recorded' in a)) return a;
    // The last decision on a workflow answers with the workflow as stored; an earlier one with the state it left.
    const last = !answers.slice(i + 1).some((b) => 'recorded' in b && b.wf.id === a.wf.id);
    const wf = last ? stored.get(a.wf.id) ?? a.wf : a.wf;
    return { ok: true as const, value: { kind: 'recorded' as const, wf, decisions: a.decisions, page: a.page.map((w) => (w.id === wf.id ? wf : w)) } };
  });
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
