import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { requestLogger } from '../lib/http';
import { scrubText } from '../lib/logger';
import { feedFileName, newFeedCredentials, parseFeedFileName, secretMatches, secretSha256 } from './calendar-token';

describe('calendar feed credentials', () => {
  it('round-trips through the file name and differs every time', () => {
    const a = newFeedCredentials();
    const b = newFeedCredentials();
    expect(a.feedId).not.toBe(b.feedId);
    expect(a.secret).not.toBe(b.secret);
    expect(parseFeedFileName(feedFileName(a))).toEqual(a);
    expect(feedFileName(a)).toMatch(/^atcap_[A-Za-z0-9_-]{65}\.ics$/);
  });

  it.each([
    ['no prefix', (f: string) => f.slice('atcap_'.length)],
    ['no .ics', (f: string) => f.slice(0, -4)],
    ['a character short', (f: string) => f.replace('.ics', '').slice(0, -1) + '.ics'],
    ['a character long', (f: string) => f.replace('.ics', 'A.ics')],
    ['a character outside base64url', (f: string) => f.replace(/^atcap_./, 'atcap_+')],
  ])('refuses a name with %s', (_what, change) => {
    expect(parseFeedFileName(change(feedFileName(newFeedCredentials())))).toBeNull();
  });

  it('matches the stored hash of its own secret only', () => {
    const c = newFeedCredentials();
    const stored = secretSha256(c.secret);
    expect(secretMatches(c.secret, stored)).toBe(true);
    expect(secretMatches(newFeedCredentials().secret, stored)).toBe(false);
    expect(secretMatches('', stored)).toBe(false);
    expect(secretMatches(c.secret, Buffer.alloc(16))).toBe(false);
  });
});

describe('feed URLs in logs', () => {
  it('scrubText removes the secret from any text that holds a feed URL', () => {
    const file = feedFileName(newFeedCredentials());
    expect(scrubText(`GET https://attest.example/calendar/${file} failed`)).toBe('GET https://attest.example/calendar/atcap_[redacted].ics failed');
  });

  it("pino-http's request line shows the path without the secret", async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => { lines.push(String(chunk)); done(); } });
    const app = express();
    app.use(requestLogger(pino(sink)));
    app.get('/calendar/:file', (_req, res) => { res.status(404).send('no'); });
    const c = newFeedCredentials();
    await request(app).get(`/calendar/${feedFileName(c)}?x=1`);
    const logged = lines.join('');
    expect(logged).toContain('"path":"/calendar/atcap_[redacted].ics"');
    expect(logged).not.toContain(c.secret);
    expect(logged).not.toContain(c.feedId);
  });
});
