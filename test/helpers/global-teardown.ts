import fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const pg = (globalThis as { __ATTEST_PG__?: { server: { stop(): Promise<void> }; dir: string } }).__ATTEST_PG__;
  if (pg) {
    await pg.server.stop();
    fs.rmSync(pg.dir, { recursive: true, force: true });
  }
}
