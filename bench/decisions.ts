/**
 * Decisions per second through the HTTP API (context JWT, permission check through the devhost's
 * REST API, decision, audit append under the tenant's head lock), 32 concurrent clients, against a plain
 * `INSERT …; COMMIT` of a row of the same size on the same PostgreSQL, same run.
 *
 *   npx tsx bench/decisions.ts [total=3000] [clients=32] [--instances=1] [--tenants=1] [--rounds=3] [--in-process] [--without-keys]
 *
 * The app serves from its own process (`src/server.ts`, as production runs it; harness.ts `startExtraInstance`):
 * this process holds the devhost (Confluence, answering the app's REST calls) and the load generator (the
 * browsers), which in production run elsewhere. `--in-process`: the app in this process too (the layout until
 * 2026-12-02; its statements are counted only there). `--instances=2`: two app processes, the same
 * database, clients alternating between them. `--tenants=8`: seven more installations through the devhost's
 * signed install, the clients spread over them (each client keeps one tenant and one instance).
 * `--rounds=N` (default 3): N rounds of (API, plain), each of `total`; the median round by ratio is reported.
 * Each decision carries an `Idempotency-Key`, as the macro sends one with every decision (public/js/macro.js);
 * `--without-keys` leaves it out (the bench's requests until 2026-12-03).
 * `--macros-per-page=N` (default 1): how many of the bench's workflows share a Confluence page. A page usually
 * carries one approval macro, or a few stages; a decision reads its page's other workflows (ordered stages), so
 * the bench's 768 workflows on one page (its layout until 2026-12-02) measured that read more than a decision.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { ApprovalsStore } from '../src/approvals/approvals-store';
import { BENCH_METRICS_TOKEN, cpuMeter, ExtraInstance, intOption, load, plainInserts, profileWindow, row, startBenchEnv, startExtraInstance, statementCounter } from './harness';

async function main() {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const total = Number(positional[0] ?? 3000);
  const clients = Number(positional[1] ?? 32);
  const instanceCount = intOption('instances', 1, 64);
  const tenantCount = intOption('tenants', 1, 64);
  const macrosPerPage = intOption('macros-per-page', 1, 10_000);
  const inProcess = process.argv.includes('--in-process');
  const roundCount = intOption('rounds', 3, 9);
  const withoutKeys = process.argv.includes('--without-keys');
  const env = await startBenchEnv();
  const extra: ExtraInstance[] = [];
  const d = env.attest.devhost!;
  const template = d.page(d.pages.onCall.id);
  const comment = 'Reviewed the change and the rollback plan; fine to ship.';
  const alice = d.users.alice.accountId;
  const store = new ApprovalsStore(env.db);

  // The primary installation and, for --tenants, more through the devhost's signed install.
  const tenants = [d.clientKey];
  for (let t = 1; t < tenantCount; t++) tenants.push((await d.installTenant({ clientKey: `bench-tenant-${t}` })).clientKey);
  for (let i = inProcess ? 1 : 0; i < instanceCount; i++) extra.push(await startExtraInstance(env));
  const instanceUrls = [...(inProcess ? [env.baseUrl] : []), ...extra.map((x) => x.baseUrl)];
  // Each client keeps one instance and one tenant: instances alternate, tenants change every `instanceCount` clients.
  const instanceOf = (c: number) => c % instanceCount;
  const tenantOf = (c: number) => tenants[Math.floor(c / instanceCount) % tenantCount];

  // One open workflow per (client, slot): a quorum that is never reached keeps them open.
  const slots = Math.ceil(total / clients / 4);
  const workflows: Array<Array<{ pageId: string; macroId: string; body: string }>> = [];
  let page = template;
  let onPage = macrosPerPage;
  await env.db.transaction(async (trx) => {
    for (let c = 0; c < clients; c++) {
      workflows[c] = [];
      for (let s = 0; s < slots; s++) {
        const macroId = `bench-${c}-${s}`;
        if (onPage++ >= macrosPerPage) {
          page = d.page(d.store.createPage('ENG', `Bench page ${c}-${s}`, '<p>Change request</p>', d.users.author.accountId).id);
          onPage = 1;
        }
        await store.insertWorkflow(tenantOf(c), {
          contentType: 'page', pageId: page.id, macroId, title: null, after: null, pagePosition: null, spaceKey: 'ENG', pageTitle: page.title, state: 'pending',
          rule: 'quorum', quorum: 1000, rejections: 1000, approvers: [alice], groups: [], dueDate: null, reviewDays: null,
          boundVersion: page.version, bodyHash: null, boundAuthorId: d.users.author.accountId,
        }, trx);
        workflows[c].push({ pageId: page.id, macroId, body: JSON.stringify({ decision: 'approve', comment, pageVersion: page.version }) });
      }
    }
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  // Context JWTs as AP.context.getToken() gives them: one per tenant and page, minted before the clock starts.
  const tokens = new Map<string, string>();
  const tokenFor = (ck: string, pageId: string) => {
    const key = `${ck} ${pageId}`;
    if (!tokens.has(key)) tokens.set(key, d.contextJwt(alice, { pageId }, { clientKey: ck }));
    return tokens.get(key)!;
  };
  for (let c = 0; c < clients; c++) for (const w of workflows[c]) tokenFor(tenantOf(c), w.pageId);

  // Each client takes its own workflows in turn, so that every workflow gets as many decisions. (Picked by the
  // load's global request number, as until 2026-12-03, a client whose requests come back in the same order every
  // time — 32 decisions committed together and answered together — drew the same 3 of its 24 workflows each time:
  // ~100 decisions each by the end of a run, read by every batch.)
  const turns = new Array<number>(clients).fill(0);
  const nextOf = (c: number) => workflows[c][turns[c]++ % slots];

  const servedByFirst = { n: 0 };
  const post = (c: number, w: { pageId: string; macroId: string; body: string }) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(`${instanceUrls[instanceOf(c)]}/api/pages/${w.pageId}/workflows/${w.macroId}/decisions`, {
        method: 'POST', agent, headers: { Authorization: `JWT ${tokenFor(tenantOf(c), w.pageId)}`, 'Content-Type': 'application/json', ...(withoutKeys ? {} : { 'Idempotency-Key': randomUUID() }) },
      }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 201) return reject(new Error(`status ${res.statusCode}`));
          if (inProcess && instanceOf(c) === 0) servedByFirst.n++;
          resolve();
        });
      });
      req.on('error', reject);
      req.end(w.body);
    });

  // The floor of any request to the app: `GET /healthz` (a static answer) through the same server, middleware and
  // keep-alive sockets, from the same clients. A decision through HTTP cannot beat it; against plain inserts it says
  // how much of the stretch goal's 1.0× HTTP alone takes on this machine.
  const empty = (c: number) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(`${instanceUrls[instanceOf(c)]}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`healthz status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });

  // Both paths warmed up before the clock starts (V8 compiles the hot paths of each; the first round ran colder).
  const warmUp = Math.min(total, 1000);
  await load(clients, warmUp, 60_000, (c) => post(c, nextOf(c)));
  // Baseline: the same number of rows of the same size (a decision row plus its audit event) inserted and committed.
  const sample = await env.db('audit_events').orderBy('seq', 'desc').first();
  const plain = await plainInserts(env.db, d.clientKey, sample.canonical.length + comment.length + 200);
  const plainRound = (count = total) => load(clients, count, 120_000, plain);

  await plainRound(warmUp);
  await load(clients, warmUp, 60_000, empty);
  // Statistics for the tables the warm-up filled, as autovacuum gathers them in production once a tenth of a table
  // has changed. Without them PostgreSQL planned on tables it took for empty: the check of each decision request's
  // reference to its decision scanned the whole decisions table, 0.87 ms a decision by the end of a run.
  await env.db.raw('analyze');
  // Rounds of (API, plain) one after the other: on a shared 2-core machine either can be slowed by a neighbour,
  // so the ratio is taken in each round and the median round is reported.
  const lockBefore = await headLockWait(instanceUrls);
  const statements = statementCounter(env.db);
  const rounds: Array<{ api: Awaited<ReturnType<typeof load>>; base: Awaited<ReturnType<typeof load>>; floor: Awaited<ReturnType<typeof load>>; benchCpuMs: number; appCpuMs: number; machineMs: number; plainMachineMs: number; postgresMs: number | null; plainPostgresMs: number | null; sql: number; servedByFirst: number }> = [];
  const profile = await profileWindow();
  for (let r = 0; r < roundCount; r++) {
    const cpuBefore = process.cpuUsage();
    const extraCpuBefore = extra.map((x) => x.cpuSeconds());
    servedByFirst.n = 0;
    statements.start();
    const apiCpu = cpuMeter(env.pgData);
    const api = await load(clients, total, 120_000, (c) => post(c, nextOf(c)));
    const sql = statements.stop();
    const { machineMs, postgresMs } = apiCpu();
    const cpu = process.cpuUsage(cpuBefore);
    const appCpuMs = extra.reduce((sum, x, i) => sum + (x.cpuSeconds() - extraCpuBefore[i]) * 1000, 0);
    const plainCpu = cpuMeter(env.pgData);
    const base = await plainRound();
    const { machineMs: plainMachineMs, postgresMs: plainPostgresMs } = plainCpu();
    const floor = await load(clients, total, 120_000, empty);
    rounds.push({ api, base, floor, benchCpuMs: (cpu.user + cpu.system) / 1000, appCpuMs, machineMs, plainMachineMs, postgresMs, plainPostgresMs, sql, servedByFirst: servedByFirst.n });
  }
  await profile.stop();
  const ratioOf = (x: (typeof rounds)[number]) => x.api.perSecond / x.base.perSecond;
  const median = [...rounds].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor(rounds.length / 2)];
  const { api, base, floor } = median;
  // The bench's process holds the load generator and the devhost (Confluence's REST answers), with --in-process the first instance too.
  const cpuMsPerDecision = (median.benchCpuMs + median.appCpuMs) / Math.max(1, api.done);
  const appCpuMsPerDecision = inProcess ? null : median.appCpuMs / Math.max(1, api.done);
  // Every process of the machine (PostgreSQL's among them) over the API part of the median round.
  const machineCpuMsPerDecision = median.machineMs / Math.max(1, api.done);
  const otherCpuMsPerDecision = machineCpuMsPerDecision - cpuMsPerDecision;
  // The same for the baseline's inserts, and how busy the machine's cores were in each: a baseline that keeps
  // them all busy is bound by CPU, and the API's ceiling is then the cores over its CPU per decision.
  const cores = os.cpus().length;
  const plainMachineCpuMsPerInsert = median.plainMachineMs / Math.max(1, base.done);
  const busy = (ms: number, seconds: number) => ms / (seconds * 1000 * cores);
  const machineBusy = { api: busy(median.machineMs, api.seconds), plain: busy(median.plainMachineMs, base.seconds) };
  const lockAfter = await headLockWait(instanceUrls);
  const lockWaitMs = ((lockAfter.sum - lockBefore.sum) / Math.max(1, lockAfter.count - lockBefore.count)) * 1000;
  // Statements of the first instance per decision it served: knex's, and those src/db/pipeline.ts sends (BEGIN
  // and COMMIT included), which it announces as knex's 'query' events.
  const sqlPerDecision = inProcess ? median.sql / Math.max(1, median.servedByFirst) : null;

  let verifies = true;
  for (const ck of tenants) verifies = (await env.attest.audit.verify(env.db, ck)).ok && verifies;
  console.log(`decisions through the API vs plain INSERT+COMMIT, ${clients} concurrent clients, ${tenantCount} tenant(s), ${instanceCount} instance(s) ${inProcess ? 'in the bench process' : 'in their own processes'}`);
  for (const [i, x] of rounds.entries()) console.log(`round ${i + 1}: API ${x.api.perSecond.toFixed(0)}/s (p99 ${x.api.p99.toFixed(0)} ms), plain ${x.base.perSecond.toFixed(0)}/s, ratio ${ratioOf(x).toFixed(3)}; GET /healthz ${x.floor.perSecond.toFixed(0)}/s (${(x.floor.perSecond / x.base.perSecond).toFixed(2)}× plain)`);
  console.log(`the median round (by ratio) of ${rounds.length}:`);
  console.log(row('API decision (JWT, permission, decision, audit)', api));
  console.log(row('plain INSERT; COMMIT (same row size)', base));
  console.log(row('GET /healthz (the floor of a request)', floor));
  const ratio = ratioOf(median);
  console.log(`Node CPU per decision (all instances, the devhost and the load generator): ${cpuMsPerDecision.toFixed(2)} ms` +
    (appCpuMsPerDecision !== null ? `, of which the app's processes ${appCpuMsPerDecision.toFixed(2)} ms` : '') +
    (extra.length ? ` (app processes: ${(median.appCpuMs / 1000).toFixed(1)} s of CPU)` : ''));
  console.log(`CPU per decision on the whole machine (${cores} cores): ${machineCpuMsPerDecision.toFixed(2)} ms, of which outside Node (PostgreSQL, the kernel's share of others) ${otherCpuMsPerDecision.toFixed(2)} ms`);
  // PostgreSQL's own processes (embedded server only): what one database spends per decision and per plain insert.
  const perOp = (ms: number | null, done: number) => (ms === null ? null : Math.round((ms / Math.max(1, done)) * 100) / 100);
  const postgresCpuMsPerDecision = perOp(median.postgresMs, api.done);
  const postgresCpuMsPerInsert = perOp(median.plainPostgresMs, base.done);
  if (postgresCpuMsPerDecision !== null) console.log(`PostgreSQL's CPU per decision: ${postgresCpuMsPerDecision.toFixed(2)} ms; per plain insert: ${postgresCpuMsPerInsert?.toFixed(2)} ms`);
  console.log(`CPU per plain insert on the whole machine: ${plainMachineCpuMsPerInsert.toFixed(2)} ms; cores busy: ${(machineBusy.api * 100).toFixed(0)} % in the API round, ${(machineBusy.plain * 100).toFixed(0)} % in the plain one`);
  if (sqlPerDecision !== null) console.log(`statements per decision in the first instance (knex's and pipelined, BEGIN and COMMIT included): ${sqlPerDecision.toFixed(2)}`);
  if (process.env.BENCH_SQL && inProcess) for (const [text, n] of statements.texts()) console.log(`  ${(n / Math.max(1, servedByFirst.n)).toFixed(2)}  ${text}`);
  console.log(`mean wait for the tenant's head lock per append (attest_audit_head_lock_wait_seconds): ${lockWaitMs.toFixed(1)} ms`);
  console.log(`ratio API / plain: ${ratio.toFixed(3)}  (chains verify: ${verifies})`);
  console.log(
    JSON.stringify({
      bench: 'decisions',
      clients,
      instances: instanceCount,
      appProcess: inProcess ? 'bench' : 'own',
      tenants: tenantCount,
      macrosPerPage,
      idempotencyKeys: !withoutKeys,
      api: { done: api.done, perSecond: round(api.perSecond), p50Ms: round(api.p50), p99Ms: round(api.p99) },
      plain: { done: base.done, perSecond: round(base.perSecond), p50Ms: round(base.p50), p99Ms: round(base.p99) },
      emptyRequest: { done: floor.done, perSecond: round(floor.perSecond), p99Ms: round(floor.p99), vsPlain: Number((floor.perSecond / base.perSecond).toFixed(3)), apiVsEmpty: Number((api.perSecond / floor.perSecond).toFixed(3)) },
      ratio: Number(ratio.toFixed(3)),
      rounds: rounds.map((x) => ({ api: round(x.api.perSecond), plain: round(x.base.perSecond), ratio: Number(ratioOf(x).toFixed(3)), p99Ms: round(x.api.p99), emptyRequest: round(x.floor.perSecond) })),
      headLockWaitMeanMs: round(lockWaitMs),
      appends: lockAfter.count - lockBefore.count,
      decisionsInAllRounds: rounds.reduce((n, x) => n + x.api.done, 0),
      cpuMsPerDecision: round(cpuMsPerDecision),
      appCpuMsPerDecision: appCpuMsPerDecision === null ? null : round(appCpuMsPerDecision),
      machineCpuMsPerDecision: round(machineCpuMsPerDecision),
      plainMachineCpuMsPerInsert: Math.round(plainMachineCpuMsPerInsert * 100) / 100,
      postgresCpuMsPerDecision,
      postgresCpuMsPerInsert,
      machineBusy: { api: Math.round(machineBusy.api * 100) / 100, plain: Math.round(machineBusy.plain * 100) / 100 },
      cores,
      sqlPerDecision: sqlPerDecision === null ? null : Math.round(sqlPerDecision * 100) / 100,
      decisionBatch: process.env.ATTEST_DECISION_BATCH ?? 'default',
      decisionLingerMs: process.env.ATTEST_DECISION_LINGER_MS ?? 'default',
      chainVerifies: verifies,
    }),
  );
  agent.destroy();
  for (const x of extra) await x.stop();
  await env.close();
}

const round = (x: number) => Math.round(x * 10) / 10;

/** The apps' own head-lock histograms, read from `/metrics` as an operator's Prometheus would, summed over instances. */
async function headLockWait(baseUrls: string[]): Promise<{ sum: number; count: number }> {
  const out = { sum: 0, count: 0 };
  for (const baseUrl of baseUrls) {
    const res = await fetch(`${baseUrl}/metrics`, { headers: { Authorization: `Bearer ${BENCH_METRICS_TOKEN}` } });
    const text = await res.text();
    const value = (name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? 0);
    out.sum += value('attest_audit_head_lock_wait_seconds_sum');
    out.count += value('attest_audit_head_lock_wait_seconds_count');
  }
  return out;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
