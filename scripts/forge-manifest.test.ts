import fs from 'node:fs';
import path from 'node:path';
import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { load } from 'js-yaml';
import { validate as forgeLint } from '@forge/manifest';
import { tempDirs } from '../test/helpers/temp-dirs';
import {
  buildForgeManifest,
  ConnectDescriptor,
  ForgeManifest,
  main,
  MANIFEST_PATH,
  manifestOptions,
  parseArgs,
  PLACEHOLDER_APP_ID,
  readDescriptor,
  REMOTE_KEY,
  renderManifest,
} from './forge-manifest';

/** Atlassian's JSON schema for manifest.yml (draft-07), as shipped in @forge/manifest. */
const SCHEMA_FILE = require.resolve('@forge/manifest/schema.json');
const FORGE_SCOPES_FILE = path.join(path.dirname(SCHEMA_FILE), '..', 'scopes', 'shipyard-scopes.json');

const descriptor = readDescriptor();
const committedText = fs.readFileSync(MANIFEST_PATH, 'utf8');
const committed = load(committedText) as ForgeManifest;
const opts = { baseUrl: 'https://attest.acme.test/', appId: 'ari:cloud:ecosystem::app/0b3c9a4e-1f2d-4c5b-8a7e-6d5c4b3a2f10' };

let forgeSchema: ValidateFunction | undefined;
function compileForgeSchema(): ValidateFunction {
  // The same ajv set-up as @forge/manifest's own SchemaValidator: draft-07, non-strict, with formats.
  if (!forgeSchema) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    ajv.addVocabulary(['defaultValue', 'fieldDescription', 'fieldTitle', 'shortClassName']);
    forgeSchema = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')));
  }
  return forgeSchema;
}

const temps = tempDirs('forge-manifest-');
afterAll(() => temps.removeAll());

function tmpFile(name: string): string {
  return path.join(temps.make(), name);
}

function descriptorModules(): [string, Record<string, unknown>[]][] {
  return Object.entries(descriptor.modules ?? {}).map(([type, c]) => [type, (Array.isArray(c) ? c : [c]) as Record<string, unknown>[]]);
}

describe('committed manifest.yml', () => {
  it('is exactly what the generator makes from atlassian-connect.json (run npm run forge:manifest)', () => {
    // Regenerated with the base URL and app id it carries, so a deploy checkout generated with
    // real values passes too; any other drift from the descriptor fails.
    expect(committedText).toBe(renderManifest(buildForgeManifest(descriptor, manifestOptions(committedText))));
  });

  it('validates against the JSON schema shipped in @forge/manifest', () => {
    const check = compileForgeSchema();
    const ok = check(committed);
    expect(check.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it("passes @forge/manifest's full validation (what forge lint and forge deploy run)", async () => {
    const result = await forgeLint(false, MANIFEST_PATH);
    expect(result.errors ?? []).toEqual([]);
    expect(result.success).toBe(true);
  });

  it('names the descriptor key, one jwt remote and no {{localBaseUrl}}', () => {
    expect(committedText).not.toContain('{{');
    expect(committed.app.connect).toEqual({ key: descriptor.key, remote: REMOTE_KEY, authentication: 'jwt' });
    expect(committed.remotes).toHaveLength(1);
    expect(committed.remotes[0].key).toBe(committed.app.connect.remote);
    expect(committed.remotes[0].baseUrl).toMatch(/^https:\/\/[^/]+/);
  });

  it('declares every descriptor module under confluence:<type>, with the same keys and URLs', () => {
    const types = descriptorModules().map(([type]) => `confluence:${type}`);
    expect(Object.keys(committed.connectModules).sort()).toEqual(['confluence:lifecycle', ...types].sort());
    for (const [type, entries] of descriptorModules()) {
      const generated = committed.connectModules[`confluence:${type}`];
      const pick = (e: Record<string, unknown>) => ({
        key: type === 'webhooks' ? undefined : e.key,
        event: e.event,
        url: e.url,
        editorUrl: (e.editor as { url?: string } | undefined)?.url,
      });
      expect(generated.map(pick)).toEqual(entries.map(pick));
      expect(generated.map((e) => e.key).every((k) => typeof k === 'string' && k.length > 0)).toBe(true);
    }
    const urls = Object.values(committed.connectModules)
      .flat()
      .flatMap((e) => [e.url, (e.editor as { url?: string } | undefined)?.url])
      .filter((u): u is string => typeof u === 'string');
    // Relative URLs resolve against the remote, i.e. our service.
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url.startsWith('/')).toBe(true);
  });

  it('keeps the install and uninstall routes, and the descriptor relies on no enabled/disabled hook', () => {
    const [lifecycle] = committed.connectModules['confluence:lifecycle'];
    expect(lifecycle).toEqual({ key: 'lifecycle', ...descriptor.lifecycle });
    // Connect on Forge never sends enabled/disabled; the service must not need them.
    expect(Object.keys(descriptor.lifecycle ?? {}).sort()).toEqual(['installed', 'uninstalled']);
  });

  it('translates the Connect scopes to scopes Forge knows', () => {
    expect(committed.permissions.scopes).toEqual((descriptor.scopes ?? []).map((s) => `${s.toLowerCase()}:connect-confluence`));
    expect(committed.permissions.scopes).toEqual(expect.arrayContaining(['read:connect-confluence', 'write:connect-confluence']));
    const known = new Set(JSON.parse(fs.readFileSync(FORGE_SCOPES_FILE, 'utf8')) as string[]);
    for (const scope of committed.permissions.scopes) expect(known.has(scope)).toBe(true);
  });
});

describe('the validators catch a broken manifest', () => {
  it('the schema rejects an unknown connect authentication and a missing runtime', () => {
    const check = compileForgeSchema();
    const broken = JSON.parse(JSON.stringify(buildForgeManifest(descriptor, opts))) as { app: Record<string, unknown> };
    (broken.app.connect as Record<string, unknown>).authentication = 'oauth2';
    delete broken.app.runtime;
    expect(check(broken)).toBe(false);
    expect((check.errors ?? []).map((e) => e.instancePath)).toEqual(expect.arrayContaining(['/app', '/app/connect/authentication']));
  });

  it('forge lint rejects a misspelt module type and a remote that does not exist', async () => {
    const manifest = buildForgeManifest(descriptor, opts) as ForgeManifest & { connectModules: Record<string, unknown> };
    manifest.connectModules['confluence:dynamicContentMacro'] = manifest.connectModules['confluence:dynamicContentMacros'];
    manifest.remotes[0].key = 'elsewhere';
    const file = tmpFile('manifest.yml');
    fs.writeFileSync(file, renderManifest(manifest));
    const result = await forgeLint(false, file);
    expect(result.success).toBe(false);
    const messages = (result.errors ?? []).map((e) => e.message).join('\n');
    expect(messages).toContain("'confluence:dynamicContentMacro'");
    expect(messages).toContain("'connect'");
  });
});

describe('buildForgeManifest', () => {
  it('is deterministic and leaves the descriptor untouched', () => {
    const before = JSON.stringify(descriptor);
    expect(renderManifest(buildForgeManifest(descriptor, opts))).toBe(renderManifest(buildForgeManifest(descriptor, opts)));
    expect(JSON.stringify(descriptor)).toBe(before);
  });

  it('uses the given base URL without its trailing slash, and the given app id', () => {
    const manifest = buildForgeManifest(descriptor, opts);
    expect(manifest.remotes).toEqual([{ key: 'connect', baseUrl: 'https://attest.acme.test' }]);
    expect(manifest.app.id).toBe(opts.appId);
    expect(buildForgeManifest(descriptor, { ...opts, baseUrl: 'https://acme.test/attest/' }).remotes[0].baseUrl).toBe('https://acme.test/attest');
  });

  it('accepts the bare app UUID', () => {
    const uuid = '0b3c9a4e-1f2d-4c5b-8a7e-6d5c4b3a2f10';
    expect(buildForgeManifest(descriptor, { ...opts, appId: uuid }).app.id).toBe(`ari:cloud:ecosystem::app/${uuid}`);
  });

  it.each([
    ['http://attest.acme.test', /https/],
    ['{{localBaseUrl}}', /absolute URL/],
    ['https://attest.acme.test/?x=1', /query/],
  ])('rejects the base URL %s', (baseUrl, message) => {
    expect(() => buildForgeManifest(descriptor, { ...opts, baseUrl })).toThrow(message);
  });

  it('rejects an app id that is not an app ARI', () => {
    expect(() => buildForgeManifest(descriptor, { ...opts, appId: 'my-app' })).toThrow(/--app-id/);
  });

  it('refuses a {{localBaseUrl}} inside a module, a scope Forge lacks, and non-jwt authentication', () => {
    const withPlaceholder: ConnectDescriptor = { ...descriptor, modules: { generalPages: [{ key: 'p', url: '{{localBaseUrl}}/p' }] } };
    expect(() => buildForgeManifest(withPlaceholder, opts)).toThrow(/placeholder/);
    expect(() => buildForgeManifest({ ...descriptor, scopes: ['READ', 'PROJECT_ADMIN'] }, opts)).toThrow(/PROJECT_ADMIN/);
    expect(() => buildForgeManifest({ ...descriptor, authentication: { type: 'none' } }, opts)).toThrow(/jwt/);
  });

  it('maps scope names as Forge spells them', () => {
    const manifest = buildForgeManifest({ ...descriptor, scopes: ['read', 'ACT_AS_USER', 'READ'] }, opts);
    expect(manifest.permissions.scopes).toEqual(['read:connect-confluence', 'act-as-user:connect-confluence']);
  });

  it('gives webhooks for the same event distinct keys', () => {
    const manifest = buildForgeManifest(
      { ...descriptor, modules: { webhooks: [{ event: 'page_updated', url: '/a' }, { event: 'page_updated', url: '/b' }] } },
      opts,
    );
    expect(manifest.connectModules['confluence:webhooks'].map((w) => w.key)).toEqual(['webhook-page-updated', 'webhook-page-updated-2']);
  });
});

describe('CLI', () => {
  it('parses both flag forms', () => {
    expect(parseArgs(['--base-url', 'https://a.test', '--app-id=ari:cloud:ecosystem::app/x'])).toMatchObject({
      baseUrl: 'https://a.test',
      appId: 'ari:cloud:ecosystem::app/x',
    });
  });

  it('writes the manifest for the given URL and app id', () => {
    const out = tmpFile('manifest.yml');
    const lines: string[] = [];
    expect(main(['--base-url', opts.baseUrl, '--app-id', opts.appId, '--out', out], (l) => lines.push(l))).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe(renderManifest(buildForgeManifest(descriptor, opts)));
    expect(lines.join('\n')).not.toContain('placeholder');
  });

  it('warns when a registered app id would be replaced by the placeholder', () => {
    const out = tmpFile('manifest.yml');
    fs.writeFileSync(out, renderManifest(buildForgeManifest(descriptor, opts)));
    const lines: string[] = [];
    expect(main(['--base-url', opts.baseUrl, '--out', out], (l) => lines.push(l))).toBe(0);
    expect(manifestOptions(fs.readFileSync(out, 'utf8')).appId).toBe(PLACEHOLDER_APP_ID);
    expect(lines.join('\n')).toContain(`--app-id ${opts.appId}`);
  });

  it('fails on an unknown flag or a plain-http URL and writes nothing', () => {
    const out = tmpFile('manifest.yml');
    expect(main(['--bogus'], () => undefined)).toBe(2);
    expect(main(['--base-url', 'http://a.test', '--out', out], () => undefined)).toBe(1);
    expect(fs.existsSync(out)).toBe(false);
  });
});
