/**
 * The chain's verification status and latest signed checkpoint of a tenant, as the space dashboard
 * shows them. Built by the checkpoints feature (CheckpointService.dashboardStatus); a source that knows
 * nothing yet answers null and the dashboard says nothing rather than guessing.
 */
import type { SignedCheckpoint } from '../audit/checkpoint-format';

export interface ChainVerification {
  ok: boolean;
  /** When the chain was last verified (ISO). */
  checkedAt?: string;
  /** Last seq covered by that verification. */
  seq?: number;
  /** Why it failed, and where. */
  reason?: string;
  firstBadSeq?: number;
  /**
   * What was checked and when, one line per kind of check ("Full check … events 1–24: ok",
   * "Since then: events 25–30 checked incrementally …"): the dashboard shows these, claiming no more.
   */
  lines?: string[];
}

/** The latest signed checkpoint as the dashboard shows it (the signed shape of audit/checkpoint-format.ts). */
export type ChainCheckpoint = Pick<SignedCheckpoint, 'seq' | 'chainHash' | 'signedAt'> & Partial<Pick<SignedCheckpoint, 'keyId'>>;

export interface VerificationStatusSource {
  status(clientKey: string): Promise<{ verification?: ChainVerification; checkpoint?: ChainCheckpoint } | null>;
}
