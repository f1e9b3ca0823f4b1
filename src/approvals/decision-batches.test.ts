import { Batches, Settled } from './decision-batches';

/** A run whose batches finish only when the test says so. */
function controlledRun() {
  const calls: Array<{ key: string; jobs: number[]; finish(results?: Array<Settled<string>>): void; fail(err: Error): void }> = [];
  const run = (key: string, jobs: number[]) =>
    new Promise<Array<Settled<string>>>((resolve, reject) => {
      calls.push({
        key,
        jobs,
        finish: (results) => resolve(results ?? jobs.map((j) => ({ ok: true, value: `done ${j}` }))),
        fail: reject,
      });
    });
  return { calls, run };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Batches (group commit of one key’s jobs)', () => {
  it('starts a lone job at once and gathers the jobs arriving meanwhile into the next batch, up to maxBatch', async () => {
    const { calls, run } = controlledRun();
    const batches = new Batches(run, { maxBatch: 3, maxConcurrent: 1 });
    const answers = [1, 2, 3, 4, 5, 6].map((j) => batches.submit('tenant-a', j));
    await tick();
    expect(calls.map((c) => c.jobs)).toEqual([[1]]);
    calls[0].finish();
    await tick();
    expect(calls.map((c) => c.jobs)).toEqual([[1], [2, 3, 4]]);
    calls[1].finish();
    await tick();
    calls[2].finish();
    expect(await Promise.all(answers)).toEqual([1, 2, 3, 4, 5, 6].map((j) => `done ${j}`));
    expect(calls.map((c) => c.jobs)).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  it('runs up to maxConcurrent batches of a key at once, and other keys independently', async () => {
    const { calls, run } = controlledRun();
    const batches = new Batches(run, { maxBatch: 10, maxConcurrent: 2 });
    const answers = [batches.submit('a', 1), batches.submit('a', 2), batches.submit('a', 3), batches.submit('b', 4)];
    await tick();
    expect(calls.map((c) => [c.key, c.jobs])).toEqual([['a', [1]], ['a', [2]], ['b', [4]]]);
    calls.forEach((c) => c.finish());
    await tick();
    expect(calls.map((c) => [c.key, c.jobs]).slice(3)).toEqual([['a', [3]]]);
    calls[3].finish();
    await Promise.all(answers);
  });

  it('answers each job with its own outcome, and every job of a batch whose run failed with that error', async () => {
    const { calls, run } = controlledRun();
    const batches = new Batches(run, { maxBatch: 10, maxConcurrent: 1 });
    const first = batches.submit('a', 1);
    const [two, three] = [batches.submit('a', 2), batches.submit('a', 3)];
    await tick();
    calls[0].fail(new Error('database gone'));
    await expect(first).rejects.toThrow('database gone');
    await tick();
    calls[1].finish([{ ok: false, error: new Error('refused') }, { ok: true, value: 'recorded' }]);
    await expect(two).rejects.toThrow('refused');
    await expect(three).resolves.toBe('recorded');
  });
});
