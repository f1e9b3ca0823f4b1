/** Polls `check` every 50 ms until it holds or `maxMs` passes (bounded in time and count); then its last answer. */
export async function waitFor(check: () => boolean | Promise<boolean>, maxMs = 10_000): Promise<boolean> {
  const until = Date.now() + maxMs;
  for (let i = 0; i < 1000 && Date.now() < until; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}
