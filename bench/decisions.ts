/**
 * Decisions per second through the HTTP API (context JWT, permission check through the devhost's
 * REST API, decision, audit append under the tenant's head lock), 32 concurrent clients on one tenant,
 * against a plain `INSERT …; COMMIT` of a row of the same size on the same PostgreSQL, same run.
 *
 *   npx tsx bench/decisions.ts [total=3000] [clients=32]
 */
import http from 'node:http';
import { ApprovalsStore } from '../src/approvals/approvals-store';
import { BENCH_METRICS_TOKEN, load, row, startBenchEnv } from './harness';

async function main() {
  const total = Number(process.argv[2] ?? 3000);
  const clients = Number(process.argv[3] ?? 32);
  const env = await startBenchEnv();
  const d = env.attest.devhost!;
  const page = d.page(d.pages.onCall.id);
  const alice = d.users.alice.accountId;
  const store = new ApprovalsStore(env.db);

  // One open workflow per (client, slot): a quorum that is never reached keeps them open.
  const slots = Math.ceil(total / clients / 4);
  const workflows: string[][] = [];
  await env.db.transaction(async (trx) => {
    for (let c = 0; c < clients; c++) {
      workflows[c] = [];
      for (let s = 0; s < slots; s++) {
        const macroId = `bench-${c}-${s}`;
        await store.insertWorkflow(d.clientKey, {
          contentType: 'page', pageId: page.id, macroId, title: null, after: null, pagePosition: null, spaceKey: 'ENG', pageTitle: page.title, state: 'pending',
          rule: 'quorum', quorum: 1000, rejections: 1000, approvers: [alice], groups: [], dueDate: null, reviewDays: null,
          boundVersion: page.version, bodyHash: null, boundAuthorId: d.users.author.accountId,
        }, trx);
        workflows[c].push(macroId);
      }
    }
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const token = d.contextJwt(alice, { pageId: page.id });
  const comment = 'Reviewed the change and the rollback plan; fine to ship.';
  const body = JSON.stringify({ decision: 'approve', comment, pageVersion: page.version });
  const post = (macroId: string) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(`${env.baseUrl}/api/pages/${page.id}/workflows/${macroId}/decisions`, {
        method: 'POST', agent, headers: { Authorization: `JWT ${token}`, 'Content-Type': 'application/json' },
      }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });

  await load(clients, clients * 2, 30_000, (c, n) => post(workflows[c][n % slots])); // warm-up
  const lockBefore = await headLockWait(env.baseUrl);
  const cpuBefore = process.cpuUsage();
  const api = await load(clients, total, 120_000, (c, n) => post(workflows[c][n % slots]));
  const cpu = process.cpuUsage(cpuBefore);
  // Client and server share this process: its CPU per decision bounds what one core can do.
  const cpuMsPerDecision = (cpu.user + cpu.system) / 1000 / Math.max(1, api.done);
  const lockAfter = await headLockWait(env.baseUrl);
  const lockWaitMs = ((lockAfter.sum - lockBefore.sum) / Math.max(1, lockAfter.count - lockBefore.count)) * 1000;

  // Baseline: the same number of rows of the same size (a decision row plus its audit event) inserted and committed.
  const sample = await env.db('audit_events').orderBy('seq', 'desc').first();
  const payload = 'x'.repeat(sample.canonical.length + comment.length + 200);
  await env.db.raw('create table bench_plain (id bigserial primary key, client_key text, payload text, at timestamptz default now())');
  const base = await load(clients, total, 120_000, async () => {
    await env.db.transaction(async (trx) => {
      await trx('bench_plain').insert({ client_key: d.clientKey, payload });
    });
  });

  const verify = await env.attest.audit.verify(env.db, d.clientKey);
  console.log(`decisions through the API vs plain INSERT+COMMIT, ${clients} concurrent clients, one tenant`);
  console.log(row('API decision (JWT, permission, decision, audit)', api));
  console.log(row('plain INSERT; COMMIT (same row size)', base));
  const ratio = api.perSecond / base.perSecond;
  console.log(`Node CPU per decision (app and load generator, one process): ${cpuMsPerDecision.toFixed(2)} ms`);
  console.log(`mean wait for the tenant's head lock per append (attest_audit_head_lock_wait_seconds): ${lockWaitMs.toFixed(1)} ms`);
  console.log(`ratio API / plain: ${ratio.toFixed(3)}  (chain verifies: ${verify.ok})`);
  console.log(
    JSON.stringify({
      bench: 'decisions',
      clients,
      api: { done: api.done, perSecond: round(api.perSecond), p50Ms: round(api.p50), p99Ms: round(api.p99) },
      plain: { done: base.done, perSecond: round(base.perSecond), p50Ms: round(base.p50), p99Ms: round(base.p99) },
      ratio: Number(ratio.toFixed(3)),
      headLockWaitMeanMs: round(lockWaitMs),
      appends: lockAfter.count - lockBefore.count,
      cpuMsPerDecision: round(cpuMsPerDecision),
      decisionBatch: process.env.ATTEST_DECISION_BATCH ?? 'default',
      chainVerifies: verify.ok,
    }),
  );
  agent.destroy();
  await env.close();
}

const round = (x: number) => Math.round(x * 10) / 10;

/** The app's own head-lock histogram, read from `/metrics` as an operator's Prometheus would. */
async function headLockWait(baseUrl: string): Promise<{ sum: number; count: number }> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { Authorization: `Bearer ${BENCH_METRICS_TOKEN}` } });
  const text = await res.text();
  const value = (name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? 0);
  return { sum: value('attest_audit_head_lock_wait_seconds_sum'), count: value('attest_audit_head_lock_wait_seconds_count') };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
