import { ACTOR_TYPES, ActorType, CanonicalEvent, CanonicalPage, FORMAT_VERSION, canonicalText, chainHash, genesisHash, isHashHex, leafHash, nonJsonPath } from './audit-format';
import { AuditAction, AuditData, auditDataProblem } from './audit-actions';
import type { AuditHead } from './audit-store';
import { eventMac } from './event-mac';

/** What an event looks like before it is appended (checks) and once built (seq, hashes, MAC): no database here. */

/**
 * An event the code asked to append breaks the chain's rules. Callers validate people's input before it
 * gets here, so this is our defect, not the user's: a 500 with a generic message, never shown (#12).
 */
export class AuditEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditEventError';
  }
}

export type { ActorType, VerifyResult } from './audit-format';

/** What every event a service records has; the audit log adds tenant, seq, time and hashes. */
interface AuditEventBase {
  /**
   * `user`: a person (accountId required); `system`: Attest itself, e.g. the scheduler (no accountId);
   * `confluence`: a webhook, with the accountId of the Confluence user who caused it when known.
   */
  actor: { type: ActorType; accountId?: string | null };
  spaceKey?: string | null;
  page?: CanonicalPage | null;
  workflowId?: string | null;
}

/**
 * What a service records: an action of the catalogue (src/audit/audit-actions.ts) with the data it carries.
 * `data` is plain JSON only, and never an accountId: turn people into refs with `refs()` (keys named like
 * `accountId` are refused).
 */
export type AuditEventInput = { [A in AuditAction]: AuditEventBase & { action: A; data: AuditData<A> } }[AuditAction];

const ACCOUNT_ID_KEY = /^account[_-]?ids?$/i;

function accountIdKeyPath(value: unknown, path: string): string | null {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = accountIdKeyPath(value[i], `${path}[${i}]`);
      if (bad) return bad;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (ACCOUNT_ID_KEY.test(k)) return `${path}.${k}`;
      const bad = accountIdKeyPath(v, `${path}.${k}`);
      if (bad) return bad;
    }
  }
  return null;
}

function optionalText(name: string, value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value === '') throw new AuditEventError(`audit event: ${name} must be a non-empty string or null`);
  return value;
}

function checkedPage(page: CanonicalPage | null | undefined): CanonicalPage | null {
  if (page === undefined || page === null) return null;
  if (typeof page.id !== 'string' || page.id === '') throw new AuditEventError('audit event: page.id must be a non-empty string');
  if (!Number.isSafeInteger(page.version) || page.version < 1) throw new AuditEventError('audit event: page.version must be a positive integer');
  if (typeof page.title !== 'string') throw new AuditEventError('audit event: page.title must be a string');
  if (page.bodyHash !== null && !isHashHex(page.bodyHash)) {
    throw new AuditEventError('audit event: page.bodyHash must be lower-case hex SHA-256 or null');
  }
  if (nonJsonPath(page.title)) throw new AuditEventError('audit event: page.title is not valid Unicode');
  return { id: page.id, version: page.version, title: page.title, bodyHash: page.bodyHash };
}

function checkedData(data: Record<string, unknown> | undefined): Record<string, unknown> {
  if (data === undefined) return {};
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new AuditEventError('audit event: data must be an object');
  const notJson = nonJsonPath(data, 'data');
  if (notJson) throw new AuditEventError(`audit event: ${notJson} is not plain JSON`);
  const accountKey = accountIdKeyPath(data, 'data');
  if (accountKey) throw new AuditEventError(`audit event: ${accountKey} looks like an accountId; record refs instead`);
  return data;
}

export interface CheckedEvent {
  action: string;
  actorType: ActorType;
  accountId: string | null;
  spaceKey: string | null;
  page: CanonicalPage | null;
  workflowId: string | null;
  data: Record<string, unknown>;
}

/** The event as the chain will record it, or an AuditEventError naming what breaks the chain's rules. */
export function checkedEvent(clientKey: string, event: AuditEventInput): CheckedEvent {
  if (typeof clientKey !== 'string' || clientKey === '') throw new AuditEventError('audit event: clientKey is required');
  if (typeof event.action !== 'string' || (event.action as string) === '') throw new AuditEventError('audit event: action is required');
  const actorType = event.actor?.type;
  if (!ACTOR_TYPES.includes(actorType)) throw new AuditEventError(`audit event: unknown actor type ${JSON.stringify(actorType)}`);
  const accountId = event.actor.accountId ?? null;
  if (actorType === 'user' && !accountId) throw new AuditEventError('audit event: a user actor needs an accountId');
  if (actorType === 'system' && accountId) throw new AuditEventError('audit event: a system actor has no accountId');
  const spaceKey = optionalText('spaceKey', event.spaceKey);
  const workflowId = optionalText('workflowId', event.workflowId);
  const page = checkedPage(event.page);
  const data = checkedData(event.data);
  // Last, so that the format's own rules (actor, page, plain JSON, no accountId) are named first.
  const offCatalogue = auditDataProblem(event.action, data);
  if (offCatalogue) throw new AuditEventError(`audit event: ${offCatalogue}`);
  return { action: event.action, actorType, accountId, spaceKey, workflowId, page, data };
}


export interface AuditEvent {
  clientKey: string;
  seq: number;
  at: string;
  action: string;
  actor: { type: ActorType; ref: string | null };
  spaceKey: string | null;
  page: CanonicalPage | null;
  workflowId: string | null;
  data: Record<string, unknown>;
  /** The stored RFC 8785 text; hashes are lower-case hex. */
  canonical: string;
  leafHash: string;
  prevChainHash: string;
  chainHash: string;
}

/**
 * Seq, time, canonical text, hashes and MAC of events that follow `head` (held locked): `key` is the tenant's MAC
 * key, `nowMs` the app's clock.
 */
export function buildEvents(
  clientKey: string,
  key: Buffer,
  nowMs: number,
  head: AuditHead & { lastAtMicros: bigint | null },
  events: Array<CheckedEvent & { ref: string | null }>,
) {
  // The app's clock, never earlier than the last event (instances' clocks may differ slightly).
  const nowMicros = BigInt(nowMs) * 1000n;
  const at = formatMicros(head.lastAtMicros !== null && head.lastAtMicros > nowMicros ? head.lastAtMicros : nowMicros);
  let prev = head.chainHash ?? genesisHash(clientKey);
  return events.map((e, i) => {
    const seq = head.seq + 1 + i;
    const actor = { type: e.actorType, ref: e.ref };
    const doc: CanonicalEvent = {
      v: FORMAT_VERSION,
      tenant: clientKey,
      seq,
      at,
      action: e.action,
      actor,
      space: e.spaceKey,
      page: e.page,
      workflow: e.workflowId,
      data: e.data,
    };
    const canonical = canonicalText(doc);
    const leaf = leafHash(canonical);
    const chain = chainHash(prev, leaf);
    const event: AuditEvent = {
      clientKey,
      seq,
      at,
      action: e.action,
      actor,
      spaceKey: e.spaceKey,
      page: e.page,
      workflowId: e.workflowId,
      data: e.data,
      canonical,
      leafHash: leaf.toString('hex'),
      prevChainHash: prev.toString('hex'),
      chainHash: chain.toString('hex'),
    };
    const row = {
      seq,
      recordedAt: at,
      action: e.action,
      spaceKey: e.spaceKey,
      pageId: e.page?.id ?? null,
      workflowId: e.workflowId,
      actorRef: e.ref,
      canonical,
      leafHash: leaf,
      chainHash: chain,
      mac: eventMac(key, leaf),
    };
    prev = chain;
    return { event, row };
  });
}


/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` (format v1's `at`) from microseconds since the epoch. */
export function formatMicros(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const frac = (micros % 1_000_000n).toString().padStart(6, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}
