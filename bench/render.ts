/**
 * Macro renders per second (page JWT verification, read permission check, workflow load, view)
 * against a bare Express handler returning the same HTML size, in the same process and run, mounted where the
 * macro's router is: behind the same middleware (helmet, pino-http, metrics, body parsers, input guards, the
 * routers before it). Counts the SQL statements the renders sent (knex 'query' events) and ends with one JSON line.
 * Two more workloads in the same rounds (each warmed up like the others): macro renders whose every URL is new (a signed nonce parameter: no
 * rendered view is served again, the view is built from the cached rows each time), and the bare handler asked
 * with the macro URL's query string (the same parsing, logging and guards of a long signed URL).
 *
 *   npx tsx bench/render.ts [total=30000] [clients=16] [rounds=3]
 *
 * `total` is per workload, split over the rounds. Rounds of 1,000 renders (half a second) moved the ratio by ±0.1 from
 * round to round on a quiet 2-core machine (one garbage collection or scheduling hiccup is a large share of so short
 * a round); rounds of 10,000 keep it within a few hundredths, so that is the default.
 */
import http from 'node:http';
import express from 'express';
import { load, row, startBenchEnv } from './harness';

/** Requests of each kind before the clock starts: enough for V8 to have compiled the hot paths of both. */
const WARM_UP = 2000;

type Run = Awaited<ReturnType<typeof load>> & { latencies?: number[] };

/** The rounds of one workload as one run: all calls, all time, percentiles over every latency. */
function merge(runs: Run[]): Run {
  const latencies = runs.flatMap((r) => r.latencies ?? []).sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  const done = runs.reduce((n, r) => n + r.done, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  return { done, seconds, perSecond: done / seconds, p50: pct(0.5), p99: pct(0.99) };
}

async function main() {
  const total = Number(process.argv[2] ?? 30000);
  const clients = Number(process.argv[3] ?? 16);
  const rounds = Math.max(1, Number(process.argv[4] ?? 3));
  const env = await startBenchEnv();
  const d = env.attest.devhost!;
  const page = d.pages.releaseChecklist;
  const url = d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const get = (u: string) =>
    new Promise<number>((resolve, reject) => {
      http.get(u, { agent }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`status ${res.statusCode}`))));
      }).on('error', reject);
    });

  const size = await get(url); // creates the workflow
  // Every request of the "new URL" workload signed for its own URL (before the clock starts).
  let fresh = 0;
  const freshUrls = Array.from({ length: total + clients * 4 + WARM_UP }, (_, i) => d.signedUrl(d.users.alice.accountId, `${url.replace(/[?&]jwt=[^&]*/, '')}&bench=${i}`));
  const query = url.slice(url.indexOf('?'));
  const html = '<!DOCTYPE html>' + 'x'.repeat(Math.max(0, size - 15));
  // The baseline lives in the same Express app and process, at the place of the router that serves /macro:
  // a request to it passes every middleware and router a macro request passes before its own route.
  const probe = express.Router();
  probe.get('/__bench/bare', (_req, res) => {
    res.type('html').send(html);
  });
  type Layer = { handle: { stack?: Array<{ route?: { path?: string } }> } };
  const stack = (env.attest.app as unknown as { _router: { stack: Layer[] } })._router.stack;
  const at = stack.findIndex((l) => l.handle.stack?.some((inner) => inner.route?.path === '/macro'));
  if (at < 0) throw new Error('the router of /macro was not found');
  stack.splice(at, 0, ...(probe as unknown as { stack: Layer[] }).stack);
  await load(clients, WARM_UP, 30_000, () => get(url).then(() => undefined));
  // The view-building path too (a new URL each), or the first round of that workload measures V8 compiling it.
  await load(clients, WARM_UP, 30_000, () => get(freshUrls[fresh++]).then(() => undefined));
  await load(clients, WARM_UP, 30_000, () => get(`${env.baseUrl}/__bench/bare`).then(() => undefined));
  // Macro and baseline alternate in rounds, so that load from outside (a shared machine) falls on both alike;
  // the ratio is the median of the rounds' ratios.
  let queries = 0;
  const countQuery = () => void queries++;
  const macroRuns: Run[] = [];
  const bareRuns: Run[] = [];
  const freshRuns: Run[] = [];
  const bareQueryRuns: Run[] = [];
  const hitsBefore = env.attest.viewCache.rendered.counts.hits;
  let repeatRenders = 0;
  const per = Math.ceil(total / rounds);
  for (let r = 0; r < rounds; r++) {
    env.db.on('query', countQuery);
    macroRuns.push(await load(clients, per, 120_000, () => get(url).then(() => undefined), true));
    repeatRenders += macroRuns[r].done;
    const hitsAfterRepeat = env.attest.viewCache.rendered.counts.hits;
    freshRuns.push(await load(clients, per, 120_000, () => get(freshUrls[fresh++]).then(() => undefined), true));
    if (env.attest.viewCache.rendered.counts.hits !== hitsAfterRepeat) throw new Error('a new URL was served a kept view');
    env.db.off('query', countQuery);
    bareQueryRuns.push(await load(clients, per, 120_000, () => get(`${env.baseUrl}/__bench/bare${query}`).then(() => undefined), true));
    bareRuns.push(await load(clients, per, 120_000, () => get(`${env.baseUrl}/__bench/bare`).then(() => undefined), true));
  }
  const macro = merge(macroRuns);
  const bare = merge(bareRuns);
  const freshMacro = merge(freshRuns);
  const bareQuery = merge(bareQueryRuns);
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratios = macroRuns.map((m, i) => m.perSecond / bareRuns[i].perSecond).sort((a, b) => a - b);
  const ratio = ratios[Math.floor(ratios.length / 2)];
  const freshRatio = median(freshRuns.map((m, i) => m.perSecond / bareRuns[i].perSecond));
  const sameQueryRatio = median(macroRuns.map((m, i) => m.perSecond / bareQueryRuns[i].perSecond));
  const freshSameQueryRatio = median(freshRuns.map((m, i) => m.perSecond / bareQueryRuns[i].perSecond));
  const keptShare = (env.attest.viewCache.rendered.counts.hits - hitsBefore) / Math.max(1, repeatRenders);
  const sqlPerRender = queries / Math.max(1, macro.done + freshMacro.done);
  console.log(`macro renders vs a bare handler of the same size (${size} bytes) behind the same middleware, ${clients} concurrent clients, ${rounds} alternating rounds`);
  console.log(row('macro render (JWT, permission, workflow, view)', macro));
  console.log(row('bare handler, same middleware and HTML size', bare));
  console.log(row('macro render, a new signed URL each (view built)', freshMacro));
  console.log(row('bare handler with the macro URL query string', bareQuery));
  const inOrder = macroRuns.map((m, i) => ({ macro: Math.round(m.perSecond), bare: Math.round(bareRuns[i].perSecond), ratio: +(m.perSecond / bareRuns[i].perSecond).toFixed(3) }));
  console.log(`rounds in order (macro/s, bare/s): ${inOrder.map((x) => `${x.macro} / ${x.bare} = ${x.ratio.toFixed(3)}`).join('; ')}`);
  console.log(`ratio macro / bare: ${ratio.toFixed(3)} (median of rounds: ${ratios.map((x) => x.toFixed(3)).join(', ')}); rendered views served again: ${(keptShare * 100).toFixed(1)} % of the repeat renders`);
  console.log(`ratio with the view built every time: ${freshRatio.toFixed(3)}; against the bare handler asked with the same query string: ${sameQueryRatio.toFixed(3)} (view kept), ${freshSameQueryRatio.toFixed(3)} (view built)`);
  console.log(`SQL statements per render: ${sqlPerRender.toFixed(2)} (${queries} in ${macro.done + freshMacro.done} renders)`);
  const figures = (r: Run) => ({ done: r.done, perSecond: Math.round(r.perSecond), p50Ms: +r.p50.toFixed(1), p99Ms: +r.p99.toFixed(1) });
  console.log(JSON.stringify({ bench: 'render', clients, rounds, bytes: size, macro: figures(macro), bare: figures(bare), ratio: +ratio.toFixed(3), ratios: ratios.map((x) => +x.toFixed(3)), roundsInOrder: inOrder,
    builtEachTime: { ...figures(freshMacro), ratio: +freshRatio.toFixed(3) }, bareSameQuery: { ...figures(bareQuery), ratio: +sameQueryRatio.toFixed(3), ratioBuilt: +freshSameQueryRatio.toFixed(3) },
    keptViewShare: +keptShare.toFixed(3), sqlPerRender: +sqlPerRender.toFixed(3) }));
  agent.destroy();
  await env.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
