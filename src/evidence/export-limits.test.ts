import { ExportLimiter } from './export-limits';

describe('ExportLimiter', () => {
  const limiter = () => new ExportLimiter({ concurrent: 3, perTenant: 2, perUser: 1 });

  it('refuses a second export of the same user, a third of the same tenant, a fourth in all (429)', () => {
    const l = limiter();
    l.acquire('a', 'u1');
    expect(() => l.acquire('a', 'u1')).toThrow(expect.objectContaining({ status: 429, message: expect.stringMatching(/already have an evidence export/) }));
    l.acquire('a', 'u2');
    expect(() => l.acquire('a', 'u3')).toThrow(/Other evidence exports of this site/);
    l.acquire('b', 'u1');
    expect(() => l.acquire('c', 'u1')).toThrow(/Too many evidence exports/);
  });

  it('gives a slot back once, however often release is called', () => {
    const l = limiter();
    const release = l.acquire('a', 'u1');
    release();
    release();
    const again = l.acquire('a', 'u1');
    expect(() => l.acquire('a', 'u1')).toThrow(/already have/);
    again();
    l.acquire('a', 'u1');
    l.acquire('a', 'u2');
    expect(() => l.acquire('a', 'u3')).toThrow(/Other evidence exports/);
  });
});
