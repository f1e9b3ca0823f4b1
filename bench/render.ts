/**
 * Macro renders per second (page JWT verification, read permission check, workflow load, view)
 * against a bare Express handler returning the same HTML size, in the same process and run.
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
  // The baseline lives in the same Express app and process, right after Express's own init layers.
  const probe = express.Router();
  probe.get('/__bench/bare', (_req, res) => {
    res.type('html').send(html);
  });
  (env.attest.app as unknown as { _router: { stack: unknown[] } })._router.stack.splice(2, 0, ...(probe as unknown as { stack: unknown[] }).stack);
  await load(clients, clients * 4, 30_000, () => get(url).then(() => undefined));
  const macro = await load(clients, total, 120_000, () => get(url).then(() => undefined));
  const bare = await load(clients, total, 120_000, () => get(`${env.baseUrl}/__bench/bare`).then(() => undefined));
  console.log(`macro renders vs a bare handler of the same size (${size} bytes), ${clients} concurrent clients`);
  console.log(row('macro render (JWT, permission, workflow, view)', macro));
  console.log(row('bare Express handler, same HTML size', bare));
  console.log(`ratio macro / bare: ${(macro.perSecond / bare.perSecond).toFixed(3)}`);
  agent.destroy();
  await env.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
