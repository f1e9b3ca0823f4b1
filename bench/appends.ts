/**
 * The database's side of a decision, with and without group commit, against plain `INSERT …; COMMIT` of a row of
 * the same size: issue 15's stretch goal ("tamper-evident faster than naive") with HTTP and Confluence taken out.
 *
 *   npx tsx bench/appends.ts [total=3000] [clients=32] [--rounds=5]
 *
 * `clients` concurrent loops in this process call `ApprovalsService.decide` as the API's handler does after the
 * context token: the workflow and Idempotency-Key read, the tenant's batch (src/approvals/decision-batches.ts) —
 * workflows and head locked and read in one round trip, the decisions, keys and workflows written, the audit
 * events hashed, MACed and appended with the commit (src/approvals/decision-apply.ts) — on the server's pool of 10.
 * Confluence's answers (read permission, the page's head) come from memory: in production they are HTTPS calls to
 * Atlassian, the app's CPU and not the database's. Each round runs the decisions with the app's default group
 * commit, the same one at a time (`{ maxBatch: 1 }`, each decision its own transaction, as before issue 15), the
 * chain alone (each caller's one audit event, batched the same way: the tenant's head locked, the events hashed,
 * MACed and appended with the commit) and the baseline, with 1,000 of each to warm up first; the median round by
 * the decisions' ratio is reported, and the chain is verified at the end. bench/decisions.ts measures the same
 * decisions through HTTP.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { ApprovalsService } from '../src/approvals/approvals-service';
import { ApprovalsStore } from '../src/approvals/approvals-store';
import { approvalsStores } from '../src/approvals/approvals-tx-store';
import { Batches, BatchOptions } from '../src/approvals/decision-batches';
import { DEFAULT_POLICY, SpacePolicyProvider } from '../src/approvals/space-policy';
import { AuditEventInput, AuditLog } from '../src/audit/audit-log';
import { AuditStore } from '../src/audit/audit-store';
import { macKeys } from '../src/audit/event-mac';
import type { ConfluenceClient, ConfluencePage } from '../src/confluence/confluence-client';
import { pipelinedTransaction } from '../src/db/pipeline';
import { systemClock } from '../src/lib/clock';
import { silentLogger } from '../src/lib/logger';
import { decisionBatchesOf } from '../src/config';
import { benchDatabase } from './bench-database';
import { cpuMeter, intOption, load, plainInserts, row } from './harness';

const CK = 'bench-appends';
const ALICE = 'acc-alice';
const comment = 'Reviewed the change and the rollback plan; fine to ship.';

async function main() {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const total = Number(positional[0] ?? 3000);
  const clients = Number(positional[1] ?? 32);
  const roundCount = intOption('rounds', 5, 9);
  if (!(Number.isInteger(total) && total >= 100 && total <= 100_000)) throw new Error('total must be a whole number from 100 to 100000');
  if (!(Number.isInteger(clients) && clients >= 1 && clients <= 64)) throw new Error('clients must be a whole number from 1 to 64');
  const bench = await benchDatabase('appends', { poolMax: 10 });
  const { db } = bench;

  // Each workflow gets ~4 decisions over the whole run (as in bench/decisions.ts), so that no mode reads longer
  // lists of earlier decisions than another; one workflow per page.
  const warmUp = Math.min(total, 1000);
  const perClient = Math.ceil((2 * warmUp + 2 * roundCount * total) / clients);
  const slots = Math.ceil(perClient / 4);
  const workflows: Array<Array<{ pageId: string; macroId: string }>> = [];
  const rows = [];
  for (let c = 0; c < clients; c++) {
    workflows[c] = [];
    for (let s = 0; s < slots; s++) {
      const w = { pageId: String(100_000 + c * slots + s), macroId: `bench-${c}-${s}` };
      workflows[c].push(w);
      rows.push({
        client_key: CK, page_id: w.pageId, content_type: 'page', macro_id: w.macroId, space_key: 'ENG', page_title: `Bench page ${c}-${s}`,
        state: 'pending', rule: 'quorum', quorum: 1000, rejections: 1000, approvers: [ALICE], groups: [], bound_version: 1, body_hash: null, bound_author_id: 'acc-author',
      });
    }
  }
  for (let i = 0; i < rows.length; i += 1000) await db('workflows').insert(rows.slice(i, i + 1000));

  // Confluence from memory: the page readable, its head where the workflow is (no move, the bound version).
  const headOf = (id: string): ConfluencePage => ({ id, type: 'page', title: 'Bench page', spaceId: '1', spaceKey: 'ENG', version: 1, versionAuthorId: 'acc-author', versionCreatedAt: null, body: '' });
  const confluence = { readAccess: async () => 'granted', getPageHead: async (_ck: string, id: string) => headOf(id), getPage: async (_ck: string, id: string) => headOf(id), groupsOf: async () => [] } as unknown as ConfluenceClient;
  const policies: SpacePolicyProvider = { policyFor: async () => DEFAULT_POLICY };
  const lockWait = { sum: 0, count: 0 };
  const audit = new AuditLog({ store: new AuditStore(db), macKey: macKeys(randomBytes(32)), onHeadLockWait: (s) => ((lockWait.sum += s), lockWait.count++) });
  const stores = approvalsStores(db, { store: new ApprovalsStore(db), audit, policiesIn: () => policies });
  const serviceWith = (decisionBatches: BatchOptions) => new ApprovalsService({ stores, confluence, policies, clock: systemClock, logger: silentLogger(), decisionBatches });
  // The app's group commit as configured (ATTEST_DECISION_BATCH, ATTEST_DECISION_LINGER_MS; the defaults without them).
  const batches = decisionBatchesOf(process.env.ATTEST_DECISION_BATCH, process.env.ATTEST_DECISION_LINGER_MS);
  const modes = { grouped: serviceWith(batches), alone: serviceWith({ maxBatch: 1, maxConcurrent: clients }) };

  // The chain alone (the issue's prototype of group commit): each caller's one audit event, batched as decisions
  // are, in a transaction that locks the tenant's head and appends the batch's events with the commit.
  const chainBatches = new Batches<AuditEventInput, number>(
    (ck, events) =>
      pipelinedTransaction(db, async (tx) => {
        const [createSubjects, refs] = audit.subjectStatements(ck, [ALICE]);
        const sent = await tx.send([createSubjects, { ...refs, flush: true }, { ...audit.headStatement(ck), flush: true }]);
        const [, refsOf, head] = sent.results;
        audit.headLockWaited(Number(sent.completedAt[2] - sent.completedAt[1]) / 1e9);
        if (!head) throw new Error('the tenant has no audit head: the warm-up decides first');
        await tx.commit([audit.appendStatement(ck, head, refsOf, events).statement]);
        return events.map((_, i) => ({ ok: true as const, value: head.seq + i + 1 }));
      }, { genericPlans: true }),
    batches,
  );
  // Its own turns: the decisions' workflows keep getting ~4 decisions each.
  const chainTurns = new Array<number>(clients).fill(0);
  const chainOnly = async (c: number) => {
    const w = workflows[c][chainTurns[c]++ % slots];
    await chainBatches.submit(CK, {
      action: 'decision.approved', actor: { type: 'user', accountId: ALICE }, spaceKey: 'ENG', workflowId: randomUUID(),
      page: { id: w.pageId, version: 1, title: 'Bench page', bodyHash: null }, data: { decision: 'approve', comment, round: 1, viaGroups: [] },
    });
  };

  const turns = new Array<number>(clients).fill(0);
  const principal = { clientKey: CK, accountId: ALICE, hostBaseUrl: 'https://example.atlassian.net/wiki' };
  const decide = (service: ApprovalsService) => async (c: number) => {
    const w = workflows[c][turns[c]++ % slots];
    await service.decide(principal, w.pageId, w.macroId, { decision: 'approve', comment, pageVersion: 1 }, null, randomUUID());
  };
  // The baseline: a row of the size of a decision and its audit event, inserted and committed (bench/decisions.ts).
  await decide(modes.grouped)(0);
  const sample = await db('audit_events').where({ client_key: CK }).orderBy('seq', 'desc').first();
  const plain = await plainInserts(db, CK, sample.canonical.length + comment.length + 200);

  // PostgreSQL's own share (embedded server only): what one database spends per decision, the ceiling of many tenants.
  const measured = async (count: number, worker: (c: number) => Promise<void>) => {
    const cpu = cpuMeter(bench.pgData);
    const locks = { ...lockWait };
    const r = await load(clients, count, 120_000, worker);
    const { machineMs, postgresMs } = cpu();
    const pgMsPerOp = postgresMs === null ? null : postgresMs / Math.max(1, r.done);
    const appends = lockWait.count - locks.count;
    return { ...r, machineMsPerOp: machineMs / Math.max(1, r.done), pgMsPerOp, busy: machineMs / (r.seconds * 1000 * os.cpus().length), appends, lockWaitMs: ((lockWait.sum - locks.sum) / Math.max(1, appends)) * 1000 };
  };
  await measured(warmUp, decide(modes.grouped));
  await measured(warmUp, decide(modes.alone));
  await measured(warmUp, chainOnly);
  await measured(warmUp, plain);
  await db.raw('analyze');
  const rounds: Array<Record<'grouped' | 'alone' | 'chain' | 'base', Awaited<ReturnType<typeof measured>>>> = [];
  for (let r = 0; r < roundCount; r++) {
    const grouped = await measured(total, decide(modes.grouped));
    const alone = await measured(total, decide(modes.alone));
    const chain = await measured(total, chainOnly);
    const base = await measured(total, plain);
    rounds.push({ grouped, alone, chain, base });
  }
  const ratioOf = (x: (typeof rounds)[number]) => x.grouped.perSecond / x.base.perSecond;
  const median = [...rounds].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor(rounds.length / 2)];
  const verifies = (await audit.verify(db, CK)).ok;
  const { grouped, alone, chain, base } = median;

  console.log(`a decision's database work (no HTTP, Confluence from memory) vs plain INSERT+COMMIT, ${clients} concurrent clients, 1 tenant, pool of 10`);
  for (const [i, x] of rounds.entries()) {
    console.log(`round ${i + 1}: grouped ${x.grouped.perSecond.toFixed(0)}/s, one at a time ${x.alone.perSecond.toFixed(0)}/s, chain alone ${x.chain.perSecond.toFixed(0)}/s, plain ${x.base.perSecond.toFixed(0)}/s, ratio ${ratioOf(x).toFixed(3)}`);
  }
  console.log(`the median round (by the grouped ratio) of ${rounds.length}:`);
  console.log(row('decision, group commit (the default)', grouped));
  console.log(row('decision, one transaction each', alone));
  console.log(row('audit event alone, group commit', chain));
  console.log(row('plain INSERT; COMMIT (same row size)', base));
  for (const [name, x] of [['grouped', grouped], ['one at a time', alone], ['chain alone', chain], ['plain', base]] as const) {
    console.log(`${name}: ${x.machineMsPerOp.toFixed(2)} ms of machine CPU each (PostgreSQL ${x.pgMsPerOp === null ? 'not measured' : `${x.pgMsPerOp.toFixed(2)} ms`}), cores ${(x.busy * 100).toFixed(0)} % busy` + (x.appends ? `, ${x.appends} appends (head-lock wait ${x.lockWaitMs.toFixed(1)} ms each)` : ''));
  }
  console.log(`ratio grouped / plain: ${ratioOf(median).toFixed(3)}, one at a time / plain: ${(alone.perSecond / base.perSecond).toFixed(3)}, chain alone / plain: ${(chain.perSecond / base.perSecond).toFixed(3)}  (chain verifies: ${verifies})`);
  const figures = (x: typeof grouped) => ({
    done: x.done, perSecond: round(x.perSecond), p50Ms: round(x.p50), p99Ms: round(x.p99), machineCpuMsPerOp: Math.round(x.machineMsPerOp * 100) / 100,
    postgresCpuMsPerOp: x.pgMsPerOp === null ? null : Math.round(x.pgMsPerOp * 100) / 100, busy: Math.round(x.busy * 100) / 100,
  });
  console.log(
    JSON.stringify({
      bench: 'appends',
      clients,
      poolMax: 10,
      decisionBatch: batches,
      grouped: { ...figures(grouped), appends: grouped.appends, headLockWaitMeanMs: round(grouped.lockWaitMs) },
      alone: { ...figures(alone), appends: alone.appends, headLockWaitMeanMs: round(alone.lockWaitMs) },
      chain: { ...figures(chain), appends: chain.appends },
      plain: figures(base),
      ratio: Number(ratioOf(median).toFixed(3)),
      aloneRatio: Number((alone.perSecond / base.perSecond).toFixed(3)),
      chainRatio: Number((chain.perSecond / base.perSecond).toFixed(3)),
      rounds: rounds.map((x) => ({ grouped: round(x.grouped.perSecond), alone: round(x.alone.perSecond), chain: round(x.chain.perSecond), plain: round(x.base.perSecond), ratio: Number(ratioOf(x).toFixed(3)) })),
      cores: os.cpus().length,
      chainVerifies: verifies,
    }),
  );
  await bench.close();
}

const round = (x: number) => Math.round(x * 10) / 10;

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
