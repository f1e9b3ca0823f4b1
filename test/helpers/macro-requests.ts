import request from 'supertest';
import type { TestApp } from './test-app';

type Devhost = NonNullable<TestApp['devhost']>;
type PageKey = keyof Devhost['pages'];

/**
 * The two ways a person reaches a workflow in the e2e tests: the macro iframe (a page JWT signed by the
 * devhost for the page's URL) and the workflow API (the iframe's context JWT).
 */
export function macroRequests(t: TestApp) {
  const d = t.devhost!;
  const path = (url: string) => url.slice(t.baseUrl.length);
  return {
    path,
    render: (as: string, pageKey: PageKey, macroIndex = 0) => {
      const page = d.pages[pageKey];
      return request(t.baseUrl).get(path(d.macroUrl(as, page.id, page.macroIds[macroIndex])));
    },
    api: (as: string, pageKey: PageKey, macroIndex = 0, clientKey?: string) => {
      const page = d.pages[pageKey];
      const base = `/api/pages/${page.id}/workflows/${page.macroIds[macroIndex]}`;
      const token = d.contextJwt(as, { pageId: page.id }, clientKey ? { clientKey } : undefined);
      return {
        get: () => request(t.baseUrl).get(base).set('Authorization', `JWT ${token}`),
        decide: (body: object) => request(t.baseUrl).post(`${base}/decisions`).set('Authorization', `JWT ${token}`).send(body),
      };
    },
  };
}
