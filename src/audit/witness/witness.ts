import type { SignedCheckpoint } from '../checkpoint-format';

/**
 * A signed checkpoint as a witness keeps it. A witness is a place the database cannot write: the signer
 * publishes every checkpoint there and, before signing a new head, reads the last one back from there
 * (never from its own database) to make sure the new head extends it. docs/threat-model.md.
 */
export type WitnessedCheckpoint = SignedCheckpoint;

export interface Witness {
  /** Shown in logs and on the admin screen: "confluence", "tsa". */
  readonly name: string;
  /** Publishes a signed checkpoint; throws when the witness did not take it (the signer then alarms). */
  publish(checkpoint: WitnessedCheckpoint): Promise<void>;
  /** The last checkpoint this witness holds for the tenant, or null before the first. */
  latest(clientKey: string): Promise<WitnessedCheckpoint | null>;
}

export class WitnessError extends Error {
  constructor(
    readonly witness: string,
    message: string,
  ) {
    super(`${witness} witness: ${message}`);
    this.name = 'WitnessError';
  }
}
