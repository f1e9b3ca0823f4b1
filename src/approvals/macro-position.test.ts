import { macroPosition, workflowName } from './macro-position';

const macro = (id: string, name = 'attest-approvals') =>
  `<ac:structured-macro ac:name="${name}" ac:schema-version="1" ac:macro-id="${id}"><ac:parameter ac:name="rule">all</ac:parameter></ac:structured-macro>`;

describe('macroPosition', () => {
  it('counts only Approvals macros, in document order', () => {
    const body = `<p>Intro</p>${macro('a')}${macro('x', 'info')}<p>Legal:</p>${macro('b')}`;
    expect(macroPosition(body, 'a')).toEqual({ position: 1, count: 2 });
    expect(macroPosition(body, 'b')).toEqual({ position: 2, count: 2 });
  });

  it('is null for a macro the body does not hold', () => {
    expect(macroPosition(`${macro('a')}${macro('x', 'info')}`, 'x')).toBeNull();
    expect(macroPosition('<p>no macros</p>', 'a')).toBeNull();
  });
});

describe('workflowName', () => {
  it('is the title, else the place among several macros, else nothing', () => {
    expect(workflowName({ title: 'Security sign-off', pagePosition: { position: 2, count: 2 } })).toBe('Security sign-off');
    expect(workflowName({ title: null, pagePosition: { position: 2, count: 2 } })).toBe('Approvals 2 of 2');
    expect(workflowName({ title: null, pagePosition: { position: 1, count: 1 } })).toBeNull();
    expect(workflowName({ title: null, pagePosition: null })).toBeNull();
  });
});
