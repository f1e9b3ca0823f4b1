import { printable } from './terminal';

describe('printable', () => {
  it.each([
    ['plain text, ünïcode and emoji 🙂', 'plain text, ünïcode and emoji 🙂'],
    ['a\rb', 'a\\x0db'],
    ['\x1b[2K\x1b[1Aok', '\\x1b[2K\\x1b[1Aok'],
    ['line\nbreak\ttab', 'line\\x0abreak\\x09tab'],
    ['del\x7f c1\x9b', 'del\\x7f c1\\x9b'],
    ['bidi \u202eevil\u2066', 'bidi \\u202eevil\\u2066'],
  ])('%j → %j', (input, expected) => {
    expect(printable(input)).toBe(expected);
  });
});
