/* Small helpers around the host's AP object, shared by the iframes. */
(function () {
  'use strict';
  function token() {
    return new Promise(function (resolve, reject) {
      if (!window.AP || !AP.context) return reject(new Error('The Confluence host script did not load.'));
      var done = false;
      var p = AP.context.getToken(function (t) { done = true; resolve(t); });
      if (p && typeof p.then === 'function') p.then(function (t) { if (!done) resolve(t); }, reject);
    });
  }
  /* `headers`: extra request headers (the macro's Idempotency-Key). A failed request's error carries its
     status and, on 503/429, the seconds the server asked us to wait (Retry-After). */
  function api(method, url, body, headers) {
    return token().then(function (t) {
      return fetch(url, {
        method: method,
        headers: Object.assign({ Authorization: 'JWT ' + t, Accept: 'application/json' }, body ? { 'Content-Type': 'application/json' } : {}, headers || {}),
        body: body ? JSON.stringify(body) : undefined,
      });
    }).then(function (res) {
      var type = res.headers.get('content-type') || '';
      var read = type.indexOf('json') >= 0 ? res.json() : res.text();
      return read.then(function (data) {
        if (!res.ok) {
          var msg = data && data.error ? data.error.message : 'Request failed (' + res.status + ')';
          var err = new Error(msg);
          err.status = res.status;
          var wait = Number(res.headers.get('retry-after'));
          if (wait >= 0 && res.headers.get('retry-after') !== null) err.retryAfter = wait;
          throw err;
        }
        return data;
      });
    });
  }
  /* The body's height, not the document's: the document never gets shorter than the iframe, so
     measuring it would let the frame grow but never shrink back. */
  function resize() {
    if (!window.AP || !AP.resize) return;
    var h = Math.ceil(document.body.getBoundingClientRect().height);
    AP.resize('100%', h + 'px');
  }
  window.Attest = { token: token, api: api, resize: resize };
})();
