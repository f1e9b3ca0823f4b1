/** The evidence pack's file names and its VERIFY.md (docs/audit-format.md, "Evidence pack"). */
import type { Checkpoint } from './evidence-checkpoint';

export const PACK = {
  events: 'events.csv',
  manifest: 'manifest.json',
  checkpoint: 'checkpoint.json',
  checkpointMessage: 'checkpoint.msg',
  checkpointSignature: 'checkpoint.sig',
  publicKey: 'public-key.pem',
  guide: 'VERIFY.md',
  sums: 'SHA256SUMS',
} as const;

export const PACK_FORMAT = 'attest-evidence-pack-v1';

/** VERIFY.md: how an auditor checks the pack by hand with sha256sum and openssl. */
export function verifyGuide(p: { tenant: string; checkpoint: Checkpoint | null; firstSeq: number | null; lastSeq: number | null }): string {
  const cp = p.checkpoint;
  const range = p.firstSeq === null ? 'no events' : `seq ${p.firstSeq} to ${p.lastSeq}`;
  return `# Verifying this evidence pack

This pack holds the audit events of Attest tenant \`${p.tenant}\` (${range}) as a hash chain
(Attest audit format v1). You can check it without Attest's servers and without trusting its operator.

## The quick way

    attest verify ${'<this-pack>'}.zip --public-key <key-you-obtained-independently>.pem

It recomputes every hash, checks every column against the signed-over canonical text, and checks the
last rows against the signed checkpoint. Exit code 0 means the pack verifies; 1 names the first bad row.

## By hand

### 1. The files are the ones listed

    sha256sum -c SHA256SUMS

Every line must say \`OK\`. \`manifest.json\` lists the same digests with the row count and seq range.

### 2. The checkpoint is signed by Attest's key
${
  cp
    ? `
\`checkpoint.msg\` is exactly the signed message; \`checkpoint.sig\` is the raw Ed25519 signature.
Compare \`public-key.pem\` with the key your organisation obtained from the Attest operator out of band
(a key inside the pack proves nothing on its own), then:

    cat checkpoint.msg
    openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in checkpoint.msg -sigfile checkpoint.sig

OpenSSL must print \`Signature Verified Successfully\`. The message reads:

    attest-checkpoint-v1
    ${p.tenant}
    ${cp.seq}
    ${cp.chainHash}
    ${cp.signedAt}
`
    : `
This pack carries no signed checkpoint (none had been signed yet for these rows). The chain below is
internally consistent, but only a checkpoint or a hash you hold independently ties it to Attest's key.
`
}
### 3. The chain reaches the checkpoint

\`events.csv\` has one row per event, in seq order, RFC 4180 quoting, CRLF line ends. Its last column is
\`chain_hash\`.${cp ? ` The row with seq ${cp.seq} must carry the chain hash in the checkpoint (line 4 of checkpoint.msg).${p.lastSeq === cp.seq ? ' It is the last row, so:\n\n    tail -c 66 events.csv | head -c 64; echo' : ''}` : ''}

### 4. Recompute a row

Take one row's \`canonical\` cell (the exact text, with CSV's doubled quotes undone — a spreadsheet shows it
that way) and its hashes:

    printf '\\000' > leaf.bin; printf '%s' "$CANONICAL" >> leaf.bin; sha256sum leaf.bin     # = leaf_hash
    hex2bin() { printf "$(printf '%s' "$1" | sed 's/../\\\\x&/g')"; }
    { printf '\\001'; hex2bin "$PREV_CHAIN_HASH"; hex2bin "$LEAF_HASH"; } | sha256sum       # = chain_hash

Each row's \`prev_chain_hash\` is the \`chain_hash\` of the row before. The first event of the tenant (seq 1)
follows the genesis hash:

    printf 'attest-audit-v1\\n%s' '${p.tenant}' | sha256sum

A person is a ref: \`actor_ref\` = SHA-256(salt ‖ accountId), shown beside it while the link exists
(an erased account leaves both cells empty):

    { hex2bin "$ACTOR_SALT"; printf '%s' "$ACTOR_ACCOUNT_ID"; } | sha256sum                 # = actor_ref

### 5. What the columns mean

\`recorded_at\`, \`action\`, \`space_key\`, \`page_id\`, \`page_title\`, \`page_version\`, \`workflow_id\`,
\`actor_ref\`, \`decision\` and \`comment\` are copies of fields of \`canonical\`, for reading. A copy that
begins with \`=\`, \`+\`, \`-\`, \`@\`, a tab or a carriage return has a \`'\` in front so that a spreadsheet
shows it as text. Rows with only \`seq\` and the three hashes are events outside this export's filter
(another space, or after its time range up to the checkpoint): they prove no event was left out without
showing it.
`;
}
