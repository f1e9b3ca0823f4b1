/**
 * Macro renders per second (page JWT verification, read permission check, workflow load, view)
 * against a bare Express handler returning the same HTML size, in the same process and run, mounted where the
 * macro's router is: behind the same middleware (helmet, pino-http, metrics, body parsers, input guards, the
 * routers before it). Counts the SQL statements the renders sent (knex 'query' events) and ends with one JSON line.
 *
 *   npx tsx bench/render.ts [total=3000] [clients=16]
 */
import http from 'node:http';
import express from 'express';
import { load, row, startBenchEnv } from './harness';

async function main() {
  const total = Number(process.argv[2] ?? 3000);
  const clients = Number(process.argv[3] ?? 16);
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
  await load(clients, clients * 4, 30_000, () => get(url).then(() => undefined));
  let queries = 0;
  const countQuery = () => void queries++;
  env.db.on('query', countQuery);
  const macro = await load(clients, total, 120_000, () => get(url).then(() => undefined));
  env.db.off('query', countQuery);
  const bare = await load(clients, total, 120_000, () => get(`${env.baseUrl}/__bench/bare`).then(() => undefined));
  const ratio = macro.perSecond / bare.perSecond;
  const sqlPerRender = queries / Math.max(1, macro.done);
  console.log(`macro renders vs a bare handler of the same size (${size} bytes) behind the same middleware, ${clients} concurrent clients`);
  console.log(row('macro render (JWT, permission, workflow, view)', macro));
  console.log(row('bare handler, same middleware and HTML size', bare));
  console.log(`ratio macro / bare: ${ratio.toFixed(3)}; SQL statements per render: ${sqlPerRender.toFixed(2)} (${queries} in ${macro.done} renders)`);
  const figures = (r: typeof macro) => ({ done: r.done, perSecond: Math.round(r.perSecond), p50Ms: +r.p50.toFixed(1), p99Ms: +r.p99.toFixed(1) });
  console.log(JSON.stringify({ bench: 'render', clients, bytes: size, macro: figures(macro), bare: figures(bare), ratio: +ratio.toFixed(3), sqlPerRender: +sqlPerRender.toFixed(3) }));
  agent.destroy();
  await env.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
