import { CoalescedReads } from './coalesced-reads';

/** A readMany whose calls the test answers one by one. */
function controlledReads() {
  const calls: Array<{ keys: string[]; answer: (rows: Record<string, string>) => void; fail: (err: Error) => void }> = [];
  const reads = new CoalescedReads<string, string>(
    (k) => k,
    (keys) => new Promise((resolve, reject) => calls.push({ keys, answer: (rows) => resolve(new Map(Object.entries(rows))), fail: reject })),
    3,
  );
  return { reads, calls };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('CoalescedReads', () => {
  it('reads a key at once when nothing is in flight, and groups the keys asked meanwhile into the next read', async () => {
    const { reads, calls } = controlledReads();
    const a = reads.get('a');
    expect(calls.map((c) => c.keys)).toEqual([['a']]);
    const b = reads.get('b');
    const c = reads.get('c');
    const b2 = reads.get('b');
    await settle();
    expect(calls).toHaveLength(1);
    calls[0].answer({ a: 'row-a' });
    await expect(a).resolves.toBe('row-a');
    await settle();
    expect(calls.map((x) => x.keys)).toEqual([['a'], ['b', 'c']]);
    calls[1].answer({ b: 'row-b' });
    await expect(b).resolves.toBe('row-b');
    await expect(b2).resolves.toBe('row-b');
    await expect(c).resolves.toBeUndefined();
  });

  it('answers a key asked after its read went out with a read of its own (nothing cached)', async () => {
    const { reads, calls } = controlledReads();
    const first = reads.get('a');
    const again = reads.get('a');
    calls[0].answer({ a: 'old' });
    await expect(first).resolves.toBe('old');
    await settle();
    calls[1].answer({ a: 'new' });
    await expect(again).resolves.toBe('new');
    const later = reads.get('a');
    expect(calls).toHaveLength(3);
    calls[2].answer({ a: 'newer' });
    await expect(later).resolves.toBe('newer');
  });

  it('fails only the round whose read failed, and goes on with the next', async () => {
    const { reads, calls } = controlledReads();
    const a = reads.get('a');
    const b = reads.get('b');
    calls[0].fail(new Error('connection reset'));
    await expect(a).rejects.toThrow('connection reset');
    await settle();
    calls[1].answer({ b: 'row-b' });
    await expect(b).resolves.toBe('row-b');
  });

  it('puts at most maxKeys keys in one read', async () => {
    const { reads, calls } = controlledReads();
    const first = reads.get('k0');
    const rest = ['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => reads.get(k));
    calls[0].answer({});
    await first;
    await settle();
    expect(calls[1].keys).toEqual(['k1', 'k2', 'k3']);
    calls[1].answer({ k1: '1' });
    await settle();
    expect(calls[2].keys).toEqual(['k4', 'k5']);
    calls[2].answer({ k5: '5' });
    await expect(Promise.all(rest)).resolves.toEqual(['1', undefined, undefined, undefined, '5']);
  });

  it('has up to maxInFlight reads out at once; the keys asked beyond them wait and go together', async () => {
    const calls: Array<{ keys: string[]; answer: () => void }> = [];
    const reads = new CoalescedReads<string, string>(
      (k) => k,
      (keys) => new Promise((resolve) => calls.push({ keys, answer: () => resolve(new Map(keys.map((k) => [k, `row-${k}`]))) })),
      10,
      2,
    );
    const asked = ['a', 'b', 'c', 'd', 'c'].map((k) => reads.get(k));
    expect(calls.map((c) => c.keys)).toEqual([['a'], ['b']]);
    calls[1].answer();
    await settle();
    expect(calls.map((c) => c.keys)).toEqual([['a'], ['b'], ['c', 'd']]);
    calls[0].answer();
    calls[2].answer();
    expect(await Promise.all(asked)).toEqual(['row-a', 'row-b', 'row-c', 'row-d', 'row-c']);
  });

  it('fails the round of a readMany that throws instead of rejecting, and keeps reading', async () => {
    let throwNext = true;
    const reads = new CoalescedReads<string, string>(
      (k) => k,
      (keys) => {
        if (throwNext) {
          throwNext = false;
          throw new Error('bad statement');
        }
        return Promise.resolve(new Map(keys.map((k) => [k, `row-${k}`])));
      },
    );
    await expect(reads.get('a')).rejects.toThrow('bad statement');
    await expect(reads.get('b')).resolves.toBe('row-b');
  });
});
