import { InputError } from '../lib/errors';
import { SEGMENTS, SortKey } from './space-dashboard-store';

/** Opaque to clients: base64url of the last row's sort key. */
export function encodeCursor(k: SortKey): string {
  return Buffer.from(JSON.stringify([k.segment, k.due, k.created, k.id]), 'utf8').toString('base64url');
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decodeCursor(cursor: string): SortKey {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = null;
  }
  if (
    Array.isArray(v) &&
    v.length === 4 &&
    Number.isInteger(v[0]) &&
    v[0] >= 0 &&
    v[0] < SEGMENTS.length &&
    (v[1] === null || (typeof v[1] === 'string' && DATE.test(v[1]))) &&
    typeof v[2] === 'string' &&
    TIMESTAMP.test(v[2]) &&
    typeof v[3] === 'string' &&
    UUID.test(v[3]) &&
    (SEGMENTS[v[0]].kind === 'overdue') === (v[1] !== null)
  ) {
    return { segment: v[0], due: v[1], created: v[2], id: v[3] };
  }
  throw new InputError('cursor is not one this API gave out: start again without it');
}
