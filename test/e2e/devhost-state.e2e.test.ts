import fs from 'node:fs';
import path from 'node:path';
import { createDevhost } from '../../src/devhost/devhost';
import { silentLogger } from '../../src/lib/logger';
import { systemClock } from '../../src/lib/clock';
import { startTestApp, TestApp } from '../helpers/test-app';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const restart = () => createDevhost({ config: t.config, logger: silentLogger(), descriptor: t.addon.descriptor, clock: systemClock });

describe('devhost persistence', () => {
  it('keeps its tenant, keys and page edits across a restart on the same data directory', async () => {
    const dh = t.devhost!;
    const { version } = await dh.editPage(dh.pages.onCall.id, { title: 'On-call handbook (2026)', as: dh.users.bob.accountId });

    const again = restart();
    expect(again.clientKey).toBe(dh.clientKey);
    expect(again.store.keys.kid).toBe(dh.store.keys.kid);
    expect(again.page(dh.pages.onCall.id)).toMatchObject({ version, title: 'On-call handbook (2026)', authorId: dh.users.bob.accountId });
    // The shared secret is not kept on disk: the restarted instance installs again (as the server
    // does at start) and then signs iframes the running add-on accepts.
    expect(again.tenant().sharedSecret).not.toBe(dh.tenant().sharedSecret);
    expect((await fetch(again.macroUrl(dh.users.alice.accountId, dh.pages.onCall.id))).status).toBe(401);
    await again.install();
    expect(await t.store.get('clientInfo', dh.clientKey)).toMatchObject({ sharedSecret: again.tenant().sharedSecret });
    // (the REST side is still served by the mounted instance: reinstall it to carry on)
    await dh.install();
    expect((await fetch(dh.macroUrl(dh.users.alice.accountId, dh.pages.onCall.id))).status).toBe(200);
    expect(await t.db('tenants').count('* as n').first()).toEqual({ n: 1 });
  });

  it('stores its files with mode 0600 and never writes a shared secret under DATA_DIR', () => {
    const dir = path.join(t.config.dataDir, 'devhost');
    for (const file of ['keys.json', 'state.json']) {
      expect(fs.statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
    }
    const secret = t.devhost!.tenant().sharedSecret;
    const files = fs.readdirSync(t.config.dataDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(fs.readFileSync(path.join(f.parentPath ?? f.path, f.name)).includes(Buffer.from(secret))).toBe(false);
    }
  });

  it('reseeds when the state file is missing, keeping the tenant', () => {
    const dh = t.devhost!;
    fs.rmSync(path.join(t.config.dataDir, 'devhost', 'state.json'));
    const fresh = restart();
    expect(fresh.clientKey).toBe(dh.clientKey);
    expect(fresh.page(dh.pages.onCall.id)).toMatchObject({ version: 2, title: 'On-call handbook' });
    expect(fresh.users.nora.displayName).toBe('Nora Noaccess');
  });
});
