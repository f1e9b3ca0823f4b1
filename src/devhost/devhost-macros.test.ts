import { fillTemplate, macrosIn, replaceMacroParams, segmentsOf } from './devhost-macros';
import { approvalsMacro } from './devhost-seed';

const body = `<p>Intro &amp; scope</p>${approvalsMacro('m-1', { approvers: 'a:1,b:2', rule: 'all' })}<p>Outro</p>${approvalsMacro('m-2', { groups: 'security' })}`;

describe('devhost macros', () => {
  it('reads macros in document order with their parameters', () => {
    expect(macrosIn(body, 'attest-approvals')).toEqual([
      { name: 'attest-approvals', macroId: 'm-1', params: { approvers: 'a:1,b:2', rule: 'all' } },
      { name: 'attest-approvals', macroId: 'm-2', params: { groups: 'security' } },
    ]);
    expect(macrosIn(body, 'other')).toEqual([]);
  });

  it('splits the body into text and macros', () => {
    expect(segmentsOf(body, 'attest-approvals').map((s) => (s.kind === 'text' ? s.text : s.macro.macroId))).toEqual(['Intro & scope', 'm-1', 'Outro', 'm-2']);
  });

  it('replaces one macro\'s parameters and escapes them', () => {
    const next = replaceMacroParams(body, 'm-2', { groups: 'a<b', rule: 'any', due: '' })!;
    expect(macrosIn(next, 'attest-approvals')[1].params).toEqual({ groups: 'a<b', rule: 'any' });
    expect(next).toContain('a&lt;b');
    expect(macrosIn(next, 'attest-approvals')[0].params.rule).toBe('all');
    expect(replaceMacroParams(body, 'nope', {})).toBeNull();
  });

  it('fills URL templates with encoded values and empty strings for unknown variables', () => {
    expect(fillTemplate('/macro?pageId={page.id}&approvers={approvers}&due={due}', { 'page.id': 42, approvers: 'a:1,b:2' })).toBe(
      '/macro?pageId=42&approvers=a%3A1%2Cb%3A2&due=',
    );
  });
});
