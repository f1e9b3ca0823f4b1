/**
 * The layering rules of docs/architecture.md, checked in `npm test` (`npm run lint:deps`).
 * A rule here is a rule the code keeps today; tighten one only with the change that makes it hold.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make load order matter and hide which module owns what.',
      from: { path: '^src' },
      // A cycle made only of type imports (e.g. the devhost's modules naming its Devhost type) loads nothing.
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'no-devhost-in-features',
      severity: 'error',
      comment: 'The devhost is a development stand-in for Confluence: production code never imports it (app.ts requires it lazily).',
      from: { path: '^src', pathNot: ['^src/devhost/', '\\.test\\.ts$', '^src/app\\.ts$', '^src/config\\.ts$', '^src/server\\.ts$'] },
      to: { path: '^src/devhost/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'knex-only-in-stores-and-db',
      severity: 'error',
      comment: 'SQL lives in *-store.ts and src/db (type-only imports for transactions are allowed until issue 14 binds stores to them).',
      from: { path: '^src', pathNot: ['-store\\.ts$', '^src/db/', '\\.test\\.ts$', '^src/devhost/'] },
      to: { path: '^node_modules/knex/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'ace-only-in-adapters',
      severity: 'error',
      comment: 'atlassian-connect-express is reached from the Connect adapters, the routers that mount its JWT checks, and the bootstrap (src/bootstrap.ts); app.ts only composes.',
      from: {
        path: '^src',
        pathNot: ['^src/confluence/', '-router\\.ts$', '^src/webhooks/webhooks\\.ts$', '^src/evidence/evidence-feature\\.ts$', '^src/bootstrap\\.ts$', '\\.test\\.ts$'],
      },
      to: { path: '^node_modules/atlassian-connect-express/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'lib-imports-no-feature',
      severity: 'error',
      comment: 'src/lib is shared plumbing: it knows no feature.',
      from: { path: '^src/lib/' },
      to: { path: '^src/(approvals|spaces|my-approvals|evidence|webhooks|scheduler|privacy|lifecycle|ops|audit|confluence|cli|devhost)/' },
    },
    {
      name: 'audit-format-is-pure',
      severity: 'error',
      comment: 'The chain format and the evidence CSV/verifier are read by the offline CLI: no database, no HTTP, no Connect.',
      // Every module of the offline verifier (src/cli/verify-file.ts and what it loads, worker threads included).
      from: {
        path: [
          '^src/audit/(audit-format|checkpoint-format)\\.ts$',
          '^src/evidence/(evidence-csv|evidence-verifier|evidence-checker|evidence-checkpoint|row-checks|row-pool|row-runs|verify-worker|verify-hashes|canonical-scan|verify-outcome|verify-result|chain-file|chain-batch|chain-lines|csv-file|csv-batch|csv-records|pack-zip|pack-checkpoints)\\.ts$',
        ],
      },
      to: { path: ['^node_modules/(knex|pg|express|atlassian-connect-express)/', '^src/(db|confluence|approvals|spaces)/'] },
    },
    {
      name: 'export-cli-without-zod',
      severity: 'error',
      comment: '`attest export` peaks at ≤ 120 MB (issue 15) and zod alone is ~10 MB of it: neither the command nor config.ts (which every command loads) may reach zod.',
      from: { path: '^src/(cli/export|config)\\.ts$' },
      to: { path: '^node_modules/zod/', reachable: true },
    },
    {
      name: 'no-store-of-another-feature',
      severity: 'error',
      comment: "A feature reads another feature's tables only through that feature's service or an interface (issue 14 moves the remaining reads behind read models).",
      from: { path: '^src/([^/]+)/', pathNot: ['^src/app\\.ts$', '\\.test\\.ts$', '^src/cli/', '^src/devhost/'] },
      to: { path: '^src/([^/]+)/[^/]+-store\\.ts$', pathNot: ['^src/$1/', '^src/db/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
