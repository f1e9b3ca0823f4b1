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

  it('starts the next batch of a key once the running one releases (its commit sent), before it has finished', async () => {
    const calls: Array<{ jobs: number[]; release(): void; finish(): void }> = [];
    const run = (_key: string, jobs: number[], release: () => void) =>
      new Promise<Array<Settled<string>>>((resolve) => calls.push({ jobs, release, finish: () => resolve(jobs.map((j) => ({ ok: true, value: `done ${j}` }))) }));
    const batches = new Batches(run, { maxBatch: 10, maxConcurrent: 1 });
    const answers = [1, 2, 3].map((j) => batches.submit('a', j));
    await tick();
    expect(calls.map((c) => c.jobs)).toEqual([[1]]);
    calls[0].release();
    calls[0].release(); // once counts
    await tick();
    expect(calls.map((c) => c.jobs)).toEqual([[1], [2, 3]]);
    const four = batches.submit('a', 4);
    await tick();
    // The second batch runs and has not released: the fourth job waits for it, not for the first.
    expect(calls).toHaveLength(2);
    calls[0].finish();
    await tick();
    expect(calls).toHaveLength(2);
    calls[1].finish();
    await tick();
    expect(calls.map((c) => c.jobs)).toEqual([[1], [2, 3], [4]]);
    calls[2].finish();
    expect(await Promise.all([...answers, four])).toEqual(['done 1', 'done 2', 'done 3', 'done 4']);
  });

  it('keeps a key\'s queue whole when a released batch finishes after the key went idle and came back', async () => {
    const calls: Array<{ jobs: number[]; release(): void; finish(): void }> = [];
    const run = (_key: string, jobs: number[], release: () => void) =>
      new Promise<Array<Settled<string>>>((resolve) => calls.push({ jobs, release, finish: () => resolve(jobs.map((j) => ({ ok: true, value: `done ${j}` }))) }));
    const batches = new Batches(run, { maxBatch: 10, maxConcurrent: 1 });
    const answers = [batches.submit('a', 1), batches.submit('a', 2)];
    await tick();
    calls[0].release();
    await tick();
    calls[1].release();
    calls[0].finish();
    await tick();
    // Nothing runs or waits for the key now; batch [2] is still finishing.
    answers.push(batches.submit('a', 3));
    await tick();
    expect(calls.map((c) => c.jobs)).toEqual([[1], [2], [3]]);
    calls[1].finish();
    await tick();
    // [3] runs: the fourth waits for it (it would start at once if [2]'s end had dropped the key's new queue).
    answers.push(batches.submit('a', 4));
    await tick();
    expect(calls).toHaveLength(3);
    calls[2].finish();
    await tick();
    expect(calls.map((c) => c.jobs)).toEqual([[1], [2], [3], [4]]);
    calls[3].finish();
    expect(await Promise.all(answers)).toEqual(['done 1', 'done 2', 'done 3', 'done 4']);
  });
});
