/**
 * Generates the Forge `manifest.yml` ("Connect on Forge") from `atlassian-connect.json`.
 *
 *   npm run forge:manifest -- --base-url https://attest.acme.com --app-id ari:cloud:ecosystem::app/<uuid>
 *
 * The descriptor stays the single source of truth: every Connect module goes under `connectModules`
 * with the `confluence:` prefix, unchanged, so Confluence keeps calling the same routes with the same
 * signed install, page JWTs and webhooks. Steps for an admin: docs/deploy-forge.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { dump, load } from 'js-yaml';

export const ROOT = path.resolve(__dirname, '..');
export const DESCRIPTOR_PATH = path.join(ROOT, 'atlassian-connect.json');
export const MANIFEST_PATH = path.join(ROOT, 'manifest.yml');

/** Used when --base-url is not given; not a host we own, so a forgotten flag cannot reach a real service. */
export const PLACEHOLDER_BASE_URL = 'https://attest.example.com';
/** The id Atlassian's own converter writes before `forge register` replaces it. */
export const PLACEHOLDER_APP_ID = 'ari:cloud:ecosystem::app/invalid-run-forge-register';
/** Key of the one remote (our Express service) that `app.connect.remote` names. */
export const REMOTE_KEY = 'connect';
/** Forge requires a runtime even without Forge functions; none of our code runs in it. */
export const FORGE_RUNTIME = 'nodejs22.x';

const PRODUCT = 'confluence';
const APP_ARI = /^ari:cloud:ecosystem::app\/\S+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Connect scopes for Confluence, as Forge spells them (`READ` → `read:connect-confluence`). */
const CONNECT_SCOPES = new Set(['read', 'write', 'delete', 'space-admin', 'admin', 'act-as-user', 'access-email-addresses']);

type ModuleEntry = Record<string, unknown>;

export interface ConnectDescriptor {
  key: string;
  description?: string;
  baseUrl?: string;
  authentication?: { type?: string };
  lifecycle?: Record<string, string>;
  scopes?: string[];
  modules?: Record<string, ModuleEntry[] | ModuleEntry>;
  [field: string]: unknown;
}

export interface ForgeManifest {
  app: {
    id: string;
    description?: string;
    runtime: { name: string };
    connect: { key: string; remote: string; authentication: 'jwt' };
  };
  connectModules: Record<string, ModuleEntry[]>;
  remotes: { key: string; baseUrl: string }[];
  permissions: { scopes: string[] };
}

export interface ForgeManifestOptions {
  /** Public https URL of the service; must equal its AC_LOCAL_BASE_URL. */
  baseUrl: string;
  /** The app id `forge register` printed (the ARI, or its bare UUID). */
  appId: string;
}

export class ForgeManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForgeManifestError';
  }
}

export function normaliseBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ForgeManifestError(`--base-url must be an absolute URL, got "${raw}"`);
  }
  if (url.protocol !== 'https:') throw new ForgeManifestError(`--base-url must use https (Forge remotes and Confluence require it), got "${raw}"`);
  if (url.search || url.hash || url.username || url.password) {
    throw new ForgeManifestError(`--base-url must not carry a query, fragment or credentials, got "${raw}"`);
  }
  return url.href.replace(/\/+$/, '');
}

export function normaliseAppId(raw: string): string {
  const id = UUID.test(raw) ? `ari:cloud:ecosystem::app/${raw}` : raw;
  if (!APP_ARI.test(id)) throw new ForgeManifestError(`--app-id must be "ari:cloud:ecosystem::app/<id>" as printed by forge register, got "${raw}"`);
  return id;
}

export function forgeScope(connectScope: string): string {
  const name = connectScope.toLowerCase().replace(/_/g, '-');
  if (!CONNECT_SCOPES.has(name)) throw new ForgeManifestError(`descriptor scope "${connectScope}" has no Connect-on-Forge equivalent`);
  return `${name}:connect-${PRODUCT}`;
}

/** Forge wants a key on every Connect module; webhooks have none in Connect, so derive one from the event. */
function webhookEntries(webhooks: ModuleEntry[]): ModuleEntry[] {
  const used = new Set<string>();
  return webhooks.map((hook) => {
    const base = `webhook-${String(hook.event ?? 'event').replace(/[^a-zA-Z0-9]+/g, '-').toLowerCase()}`;
    let key = base;
    for (let n = 2; used.has(key); n++) key = `${base}-${n}`;
    used.add(key);
    return { key, ...hook };
  });
}

function assertNoPlaceholder(value: unknown, where: string): void {
  const text = JSON.stringify(value);
  if (text.includes('{{')) throw new ForgeManifestError(`${where} contains a "{{…}}" placeholder, which Forge would not fill in`);
}

/** Pure: the same descriptor and options always give the same manifest. */
export function buildForgeManifest(descriptor: ConnectDescriptor, opts: ForgeManifestOptions): ForgeManifest {
  if (!descriptor || typeof descriptor.key !== 'string' || !descriptor.key) throw new ForgeManifestError('descriptor has no key');
  const authType = descriptor.authentication?.type ?? 'none';
  if (authType.toLowerCase() !== 'jwt') {
    throw new ForgeManifestError(`descriptor authentication is "${authType}"; Connect on Forge needs "jwt"`);
  }
  const baseUrl = normaliseBaseUrl(opts.baseUrl);
  const appId = normaliseAppId(opts.appId);

  const connectModules: Record<string, ModuleEntry[]> = {};
  if (descriptor.lifecycle && Object.keys(descriptor.lifecycle).length) {
    connectModules[`${PRODUCT}:lifecycle`] = [{ key: 'lifecycle', ...descriptor.lifecycle }];
  }
  for (const [type, content] of Object.entries(descriptor.modules ?? {})) {
    // A JSON copy: the descriptor is JSON, and the manifest must not share objects with it.
    const entries = JSON.parse(JSON.stringify(Array.isArray(content) ? content : [content])) as ModuleEntry[];
    connectModules[`${PRODUCT}:${type}`] = type === 'webhooks' ? webhookEntries(entries) : entries;
  }
  assertNoPlaceholder(connectModules, 'a descriptor module');

  const description = descriptor.description;
  const manifest: ForgeManifest = {
    app: {
      id: appId,
      ...(description ? { description } : {}),
      runtime: { name: FORGE_RUNTIME },
      connect: { key: descriptor.key, remote: REMOTE_KEY, authentication: 'jwt' },
    },
    connectModules,
    remotes: [{ key: REMOTE_KEY, baseUrl }],
    permissions: { scopes: [...new Set((descriptor.scopes ?? []).map(forgeScope))] },
  };
  return manifest;
}

export const MANIFEST_HEADER = [
  '# Generated from atlassian-connect.json by `npm run forge:manifest`; do not edit by hand.',
  '# Re-run it after changing the descriptor (a test fails while the two disagree).',
  '# Deploying with Forge: docs/deploy-forge.md',
].join('\n');

export function renderManifest(manifest: ForgeManifest): string {
  return `${MANIFEST_HEADER}\n${dump(manifest, { lineWidth: -1, noRefs: true })}`;
}

/** The options a rendered manifest was generated with, so that it can be regenerated and compared. */
export function manifestOptions(text: string): ForgeManifestOptions {
  const parsed = load(text) as Partial<ForgeManifest> | undefined;
  const remote = parsed?.remotes?.find((r) => r.key === parsed?.app?.connect?.remote);
  return { baseUrl: String(remote?.baseUrl ?? ''), appId: String(parsed?.app?.id ?? '') };
}

export function readDescriptor(file = DESCRIPTOR_PATH): ConnectDescriptor {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ConnectDescriptor;
}

export interface CliArgs {
  baseUrl?: string;
  appId?: string;
  descriptor: string;
  out: string;
  help: boolean;
}

export function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { descriptor: DESCRIPTOR_PATH, out: MANIFEST_PATH, help: false };
  const names: Record<string, 'baseUrl' | 'appId' | 'descriptor' | 'out'> = {
    '--base-url': 'baseUrl',
    '--app-id': 'appId',
    '--descriptor': 'descriptor',
    '--out': 'out',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      args.help = true;
      continue;
    }
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const name = names[flag];
    if (!name) throw new ForgeManifestError(`unknown argument "${arg}" (see --help)`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new ForgeManifestError(`${flag} needs a value`);
    args[name] = value;
  }
  return args;
}

const USAGE = `Usage: npm run forge:manifest -- [--base-url URL] [--app-id ARI] [--descriptor FILE] [--out FILE]

  --base-url URL   public https URL of the Attest service (= its AC_LOCAL_BASE_URL); default ${PLACEHOLDER_BASE_URL}
  --app-id ARI     app id from \`forge register\`; default ${PLACEHOLDER_APP_ID}
  --descriptor     Connect descriptor to read; default atlassian-connect.json
  --out            where to write; default manifest.yml (Forge CLI reads it from the repo root)`;

export function main(argv: string[], log: (line: string) => void = console.error): number {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    log(`forge:manifest: ${(err as Error).message}`);
    return 2;
  }
  if (args.help) {
    log(USAGE);
    return 0;
  }
  const opts: ForgeManifestOptions = { baseUrl: args.baseUrl ?? PLACEHOLDER_BASE_URL, appId: args.appId ?? PLACEHOLDER_APP_ID };
  let text: string;
  try {
    text = renderManifest(buildForgeManifest(readDescriptor(args.descriptor), opts));
  } catch (err) {
    log(`forge:manifest: ${(err as Error).message}`);
    return 1;
  }
  if (!args.baseUrl) log(`forge:manifest: no --base-url, wrote the placeholder ${PLACEHOLDER_BASE_URL}; pass your service's URL before forge deploy`);
  if (!args.appId) {
    const previous = fs.existsSync(args.out) ? manifestOptions(fs.readFileSync(args.out, 'utf8')).appId : '';
    if (previous && previous !== PLACEHOLDER_APP_ID) {
      log(`forge:manifest: replaced the registered app id ${previous} by the placeholder; pass --app-id ${previous} to keep it`);
    } else {
      log('forge:manifest: no --app-id, wrote the placeholder id; run forge register, then again with --app-id');
    }
  }
  fs.writeFileSync(args.out, text);
  log(`forge:manifest: wrote ${path.relative(process.cwd(), args.out) || args.out}`);
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
