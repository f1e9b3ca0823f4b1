import { Batches } from './decision-batches';
import type { Settled } from '../lib/settled';

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

  describe('jobs announced as coming (a lone job lingers for them)', () => {
    // Fake timers make the clock (performance.now) and the linger's timeout the test's; ticks stay real.
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());

    /** Batches whose batches took `ms` lately (one batch run for that long: its moving average is ms / 8). */
    async function primed(opts: { maxBatch: number; maxLingerMs: number }, ms = 800) {
      const { calls, run } = controlledRun();
      const batches = new Batches(run, { maxConcurrent: 1, ...opts });
      const first = batches.submit('a', 0);
      await tick();
      await jest.advanceTimersByTimeAsync(ms);
      calls[0].finish();
      await first;
      await tick();
      return { calls, batches };
    }
    const started = (calls: Array<{ jobs: number[] }>) => calls.slice(1).map((c) => c.jobs);

    it('waits for the announced jobs and runs them in one batch', async () => {
      const { calls, batches } = await primed({ maxBatch: 10, maxLingerMs: 1000 });
      const [one, two, three] = [batches.coming('a'), batches.coming('a'), batches.coming('a')];
      const answers = [one.submit(1)];
      await jest.advanceTimersByTimeAsync(50);
      expect(started(calls)).toEqual([]);
      answers.push(three.submit(3));
      await tick();
      expect(started(calls)).toEqual([]);
      answers.push(two.submit(2));
      await tick();
      // The last one came: no waiting for the timeout.
      expect(started(calls)).toEqual([[1, 3, 2]]);
      calls[1].finish();
      expect(await Promise.all(answers)).toEqual(['done 1', 'done 3', 'done 2']);
    });

    it('tells onBatch each batch\'s size as it starts, and how long its oldest job waited for it', async () => {
      const told: Array<[number, number]> = [];
      const { calls, run } = controlledRun();
      const batches = new Batches(run, { maxBatch: 10, maxConcurrent: 1, maxLingerMs: 1000, onBatch: (size, waitedMs) => told.push([size, waitedMs]) });
      const first = batches.submit('a', 0);
      await tick();
      await jest.advanceTimersByTimeAsync(800);
      calls[0].finish();
      await first;
      await tick();
      // Lingering for the one coming: 30 ms.
      const coming = batches.coming('a');
      const answers = [batches.coming('a').submit(1)];
      await jest.advanceTimersByTimeAsync(30);
      answers.push(coming.submit(2));
      await tick();
      // Behind the running batch: the oldest waits 40 ms, the newer 15.
      answers.push(batches.submit('a', 3));
      await jest.advanceTimersByTimeAsync(25);
      answers.push(batches.submit('a', 4));
      await jest.advanceTimersByTimeAsync(15);
      calls[1].finish();
      await tick();
      calls[2].finish();
      await Promise.all(answers);
      expect(told).toEqual([
        [1, 0],
        [2, 30],
        [2, 40],
      ]);
    });

    it('runs its batches when onBatch throws', async () => {
      const { calls, run } = controlledRun();
      const batches = new Batches(run, { maxBatch: 10, maxConcurrent: 1, onBatch: () => { throw new Error('a broken metrics hook'); } });
      const answers = [batches.submit('a', 1), batches.submit('a', 2)];
      await tick();
      calls[0].finish();
      await tick();
      calls[1].finish();
      expect(await Promise.all(answers)).toEqual(['done 1', 'done 2']);
    });

    it('waits no longer than recent batches took, nor than maxLingerMs', async () => {
      const slow = await primed({ maxBatch: 10, maxLingerMs: 1000 }, 800);
      slow.batches.coming('a');
      const first = slow.batches.coming('a').submit(1);
      await jest.advanceTimersByTimeAsync(99);
      expect(started(slow.calls)).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(started(slow.calls)).toEqual([[1]]);
      slow.calls[1].finish();
      await first;

      const capped = await primed({ maxBatch: 10, maxLingerMs: 20 }, 800);
      capped.batches.coming('a');
      capped.batches.coming('a').submit(1);
      await jest.advanceTimersByTimeAsync(19);
      expect(started(capped.calls)).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(started(capped.calls)).toEqual([[1]]);
    });

    it('starts at once when the coming ones are cancelled, the batch is full, a batch runs, or lingering is off', async () => {
      const cancelled = await primed({ maxBatch: 10, maxLingerMs: 1000 });
      const gone = cancelled.batches.coming('a');
      cancelled.batches.coming('a').submit(1);
      await tick();
      expect(started(cancelled.calls)).toEqual([]);
      gone.cancel();
      await tick();
      expect(started(cancelled.calls)).toEqual([[1]]);

      const full = await primed({ maxBatch: 2, maxLingerMs: 1000 });
      const tickets = [1, 2, 3].map(() => full.batches.coming('a'));
      tickets[0].submit(1);
      tickets[1].submit(2);
      await tick();
      expect(started(full.calls)).toEqual([[1, 2]]);
      // A batch runs: the third waits for its release, not for a linger.
      tickets[2].submit(3);
      await tick();
      expect(started(full.calls)).toEqual([[1, 2]]);
      full.calls[1].finish();
      await tick();
      expect(started(full.calls)).toEqual([[1, 2], [3]]);

      const off = await primed({ maxBatch: 10, maxLingerMs: 0 });
      off.batches.coming('a');
      off.batches.coming('a').submit(1);
      await tick();
      expect(started(off.calls)).toEqual([[1]]);
    });

    it('never lingers before a batch has run (nothing says how long one takes yet)', async () => {
      const { calls, run } = controlledRun();
      const batches = new Batches(run, { maxBatch: 10, maxConcurrent: 1, maxLingerMs: 1000 });
      batches.coming('a');
      batches.coming('a').submit(1);
      await tick();
      expect(calls.map((c) => c.jobs)).toEqual([[1]]);
    });

    it('counts a ticket once: cancelling after its submit changes nothing, a second submit is refused', async () => {
      const { calls, batches } = await primed({ maxBatch: 10, maxLingerMs: 1000 });
      const one = batches.coming('a');
      const answer = one.submit(1);
      one.cancel();
      await expect(one.submit(9)).rejects.toThrow('already used');
      await tick();
      expect(started(calls)).toEqual([[1]]);
      calls[1].finish();
      await answer;
      await tick();
      // One other is coming: the next lone job waits for it (it would not if the cancel above had counted too).
      const [two, three] = [batches.coming('a'), batches.coming('a')];
      two.submit(2);
      await jest.advanceTimersByTimeAsync(5);
      expect(started(calls)).toEqual([[1]]);
      three.submit(3);
      await tick();
      expect(started(calls)).toEqual([[1], [2, 3]]);
    });
  });
});
