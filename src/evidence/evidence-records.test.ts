import { Readable } from 'node:stream';
import { textOf } from './evidence-records';

/** The chunks textOf pushes for `lines` (one record each, the line its only cell) after `first` ('data' events: read() would join them). */
function chunks(first: string, lines: string[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const text = Readable.from(lines.map((l) => [l])).pipe(textOf((r) => r[0], first));
  text.on('data', (c: Buffer) => out.push(c));
  return new Promise((resolve, reject) => text.on('end', () => resolve(out)).on('error', reject));
}

describe('textOf: records to UTF-8 chunks', () => {
  it('writes the header and every line as their UTF-8, never splitting a line, in chunks of at most 64 KiB but for a longer line', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `${i},${i % 7 === 0 ? 'ü日😀\ud800' : 'plain'},${'x'.repeat(i % 97)}\r\n`);
    lines.splice(1500, 0, `${'日'.repeat(40_000)}\r\n`); // 120,000 bytes: a chunk of its own
    const out = await chunks('h1,h2\r\n', lines);
    expect(Buffer.concat(out).equals(Buffer.from(`h1,h2\r\n${lines.join('')}`, 'utf8'))).toBe(true);
    for (const c of out) expect(c.length <= 1 << 16 || c.toString('utf8') === lines[1500]).toBe(true);
    expect(out.length).toBeGreaterThan(2);
    // Each chunk ends at a line's end.
    for (const c of out) expect(c.toString('utf8').endsWith('\r\n')).toBe(true);
  });

  it('writes the header alone when there are no records, and nothing for an empty header', async () => {
    expect(Buffer.concat(await chunks('h1,h2\r\n', [])).toString()).toBe('h1,h2\r\n');
    expect(await chunks('', [])).toEqual([]);
  });
});
