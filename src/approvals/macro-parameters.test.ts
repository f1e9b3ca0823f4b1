import fs from 'node:fs';
import path from 'node:path';
import { macroQuery } from './approvals-schemas';
import { MACRO_PARAMETERS, macroParameterValues } from './macro-parameters';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface MacroModule {
  url: string;
  parameters: Array<{ identifier: string }>;
}

describe('the macro parameters have one home (MACRO_PARAMETER_SCHEMAS)', () => {
  const macro = (JSON.parse(read('atlassian-connect.json')) as { modules: { dynamicContentMacros: MacroModule[] } }).modules.dynamicContentMacros[0];

  it('are the descriptor macro parameters, in its order', () => {
    expect(macro.parameters.map((p) => p.identifier)).toEqual(MACRO_PARAMETERS);
  });

  it('are each passed by the descriptor URL template, and nothing else of the author is', () => {
    const query = new URLSearchParams(macro.url.slice(macro.url.indexOf('?') + 1));
    for (const name of MACRO_PARAMETERS) expect(query.get(name)).toBe(`{${name}}`);
    // The rest are Confluence's context variables ({page.id}, {space.key}, {macro.id}, …), never a parameter.
    const others = [...query.entries()].filter(([name]) => !(MACRO_PARAMETERS as string[]).includes(name));
    for (const [, value] of others) expect(value).toMatch(/^\{(page|space|macro)\.[a-z]+\}$/);
  });

  it('are what the macro editor saves', () => {
    const editor = read('public/js/macro-editor.js');
    const saved = /var params = \{\n([\s\S]*?)\n\s*\};/.exec(editor)?.[1] ?? '';
    const keys = [...saved.matchAll(/^\s*([a-z]+):/gm)].map((m) => m[1]);
    expect(keys).toEqual(MACRO_PARAMETERS);
  });

  it('are each documented in the README parameter table', () => {
    const readme = read('README.md');
    for (const name of MACRO_PARAMETERS) expect(readme).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });

  it('are taken out of a parsed macro query by name, parsed by the query schema', () => {
    const q = macroQuery.parse({
      pageId: '123', pageVersion: '2', pageType: 'page', spaceKey: 'ENG', macroId: 'm1', jwt: 'x',
      title: ' Security sign-off ', after: '', approvers: 'a, b,a', groups: '', rule: 'quorum', quorum: '2', rejections: '', due: '2026-12-31', review: '90',
    });
    expect(macroParameterValues(q)).toEqual({
      title: 'Security sign-off', after: null, approvers: ['a', 'b'], groups: [], rule: 'quorum', quorum: 2, rejections: null, due: '2026-12-31', review: 90,
    });
  });
});
