/**
 * The secret of a calendar subscription URL. Calendar clients (Confluence team calendars, Outlook, Google)
 * can send no JWT: the URL is the credential, so it is made like one. Its path segment is
 * `atcap_<feed id><secret>.ics`: the feed id (16 random bytes) finds the row, the secret (32 random bytes)
 * proves the caller was given the URL. Only the secret's SHA-256 is stored; it is compared in constant time.
 * The `atcap_` prefix is what the logger removes from every logged text (CAPABILITY_PREFIX in lib/logger).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CAPABILITY_PREFIX } from '../lib/logger';

const FEED_ID_CHARS = 22; // 16 bytes, base64url
const SECRET_CHARS = 43; // 32 bytes, base64url
const FILE = new RegExp(`^${CAPABILITY_PREFIX}([A-Za-z0-9_-]{${FEED_ID_CHARS}})([A-Za-z0-9_-]{${SECRET_CHARS}})\\.ics$`);

export interface FeedCredentials {
  feedId: string;
  secret: string;
}

export function newFeedCredentials(): FeedCredentials {
  return { feedId: randomBytes(16).toString('base64url'), secret: randomBytes(32).toString('base64url') };
}

/** The last path segment of the feed URL. */
export function feedFileName(c: FeedCredentials): string {
  return `${CAPABILITY_PREFIX}${c.feedId}${c.secret}.ics`;
}

/** The credentials in a feed URL's last segment, or null when it cannot be one. */
export function parseFeedFileName(file: string): FeedCredentials | null {
  const m = FILE.exec(file);
  return m ? { feedId: m[1], secret: m[2] } : null;
}

export function secretSha256(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Same time whatever the secret: both sides are 32-byte digests. */
export function secretMatches(secret: string, storedSha256: Buffer): boolean {
  const given = secretSha256(secret);
  return storedSha256.length === given.length && timingSafeEqual(given, storedSha256);
}
