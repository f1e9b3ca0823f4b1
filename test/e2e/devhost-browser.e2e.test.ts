import { decodeSymmetric, SymmetricAlgorithm } from 'atlassian-jwt';
import { chromium, Browser } from 'playwright-core';
import { startTestApp, TestApp } from '../helpers/test-app';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let t: TestApp;
let browser: Browser;

beforeAll(async () => {
  t = await startTestApp();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('all.js stand-in in a browser', () => {
  it('answers getToken, getMacroData, flag, resize and saveMacro over postMessage, with no CSP violations', async () => {
    const dh = t.devhost!;
    const alice = dh.users.alice.accountId;
    const page = await browser.newPage();
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    await page.goto(`${t.baseUrl}/devhost/selftest?as=${encodeURIComponent(alice)}`);
    const frame = page.frameLocator('iframe.devhost-frame');
    const out = frame.locator('#out[data-done]');
    await out.waitFor({ timeout: 15_000 });
    expect(await out.getAttribute('data-done')).toBe('ok');
    const results = JSON.parse((await out.textContent())!);

    for (const token of [results.callbackToken, results.promiseToken]) {
      const claims = decodeSymmetric(token, dh.tenant().sharedSecret, SymmetricAlgorithm.HS256);
      expect(claims).toMatchObject({
        iss: dh.clientKey,
        sub: alice,
        qsh: 'context-qsh',
        context: { user: { accountId: alice }, confluence: { content: { id: dh.pages.onCall.id }, space: { key: 'ENG' } } },
      });
    }
    expect(results.macroParams).toEqual(dh.page(dh.pages.onCall.id).macros[0].params);
    await page.locator('.dh-flag', { hasText: 'all.js answered' }).waitFor({ timeout: 5_000 });
    await page.waitForFunction(`document.querySelector('iframe.devhost-frame').style.height === '321px'`);

    const before = dh.page(dh.pages.onCall.id).version;
    await frame.locator('#save').click();
    await page.locator('.dh-flag', { hasText: 'Macro saved' }).waitFor({ timeout: 10_000 });
    const after = dh.page(dh.pages.onCall.id);
    expect(after.version).toBe(before + 1);
    expect(after.authorId).toBe(alice);
    expect(after.macros[0].params).toMatchObject({ rule: 'all', review: '30' });
    expect(dh.webhooksSent[dh.webhooksSent.length - 1]).toMatchObject({ status: 204, delivery: { event: 'page_updated' } });
    expect(cspErrors).toEqual([]);
  });

  it('shows a page with its macro iframe and switches the viewer', async () => {
    const dh = t.devhost!;
    const page = await browser.newPage();
    await page.goto(`${t.baseUrl}/devhost/wiki/spaces/ENG/pages/${dh.pages.releaseChecklist.id}`);
    await page.selectOption('#devhost-as select', dh.users.bob.accountId);
    await page.waitForURL(/as=/);
    const src = await page.locator('iframe.devhost-frame').getAttribute('src');
    const jwt = new URL(src!).searchParams.get('jwt')!;
    expect(decodeSymmetric(jwt, dh.tenant().sharedSecret, SymmetricAlgorithm.HS256).sub).toBe(dh.users.bob.accountId);
  });
});
