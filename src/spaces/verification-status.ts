/**
 * The chain's verification status and latest signed checkpoint of a tenant, as the space dashboard
 * shows them. Built elsewhere (audit checkpoints); until that is wired in app.ts the dashboard says
 * nothing about it rather than guessing.
 */
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

export interface ChainCheckpoint {
  seq: number;
  chainHash: string;
  /** When it was signed (ISO). */
  signedAt: string;
  keyId?: string;
}

export interface VerificationStatusSource {
  status(clientKey: string): Promise<{ verification?: ChainVerification; checkpoint?: ChainCheckpoint } | null>;
}
