/* Small helpers around the host's AP object, shared by the iframes. */
(function () {
  'use strict';
  /* A context token lives minutes (Confluence: 15; `exp` says): one is reused until a minute before it
     expires, so the app checks its signature once, not on every call. A refused call (401) drops it. */
  var held = null;
  function expOf(t) {
    try {
      var claims = JSON.parse(atob(String(t).split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return typeof claims.exp === 'number' ? claims.exp : 0;
    } catch (e) {
      return 0;
    }
  }
  function freshToken() {
    return new Promise(function (resolve, reject) {
      if (!window.AP || !AP.context) return reject(new Error('The Confluence host script did not load.'));
      var done = false;
      var p = AP.context.getToken(function (t) { done = true; resolve(t); });
      if (p && typeof p.then === 'function') p.then(function (t) { if (!done) resolve(t); }, reject);
    }).then(function (t) {
      held = { token: t, exp: expOf(t) };
      return t;
    });
  }
  /* The token held, while it has more than a minute left; else null. */
  function heldToken() {
    return held && held.exp - Date.now() / 1000 > 60 ? held.token : null;
  }
  function token() {
    var t = heldToken();
    return t ? Promise.resolve(t) : freshToken();
  }
  /* `headers`: extra request headers (the macro's Idempotency-Key). A failed request's error carries its
     status and, on 503/429, the seconds the server asked us to wait (Retry-After). A 401 to a reused token
     (a clock apart from Confluence's, a reinstall) is asked once more with a fresh one: nothing was done. */
  function api(method, url, body, headers) {
    var reused = heldToken() !== null;
    function send(t) {
      return fetch(url, {
        method: method,
        headers: Object.assign({ Authorization: 'JWT ' + t, Accept: 'application/json' }, body ? { 'Content-Type': 'application/json' } : {}, headers || {}),
        body: body ? JSON.stringify(body) : undefined,
      });
    }
    return token().then(send).then(function (res) {
      if (res.status !== 401) return res;
      held = null;
      return reused ? freshToken().then(send) : res;
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

  /* Dates for people: the viewer's locale and time zone from Confluence (AP.user.getLocale / getTimeZone),
     the exact UTC time on hover (title), and for due dates how far away they are. The server writes UTC
     text into each <time>, so a page without the host script still says something exact. */
  var DAY = 86400000;
  var viewer = null;
  function viewerSettings() {
    if (viewer) return viewer;
    viewer = new Promise(function (resolve) {
      var out = { locale: undefined, timeZone: undefined };
      if (!window.AP || !AP.user || !AP.user.getLocale || !AP.user.getTimeZone) return resolve(out);
      var left = 2;
      function done() { if (--left === 0) resolve(out); }
      // A host that never answers must not leave dates unformatted.
      setTimeout(function () { resolve(out); }, 2000);
      AP.user.getLocale(function (l) { if (l) out.locale = String(l).replace(/_/g, '-'); done(); });
      AP.user.getTimeZone(function (z) { if (z) out.timeZone = String(z); done(); });
    });
    return viewer;
  }
  function formatter(v, opts) {
    try { return new Intl.DateTimeFormat(v.locale, Object.assign({ timeZone: v.timeZone }, opts)); } catch (e) {
      try { return new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: v.timeZone }, opts)); } catch (e2) { return new Intl.DateTimeFormat(undefined, opts); }
    }
  }
  function utcText(iso) { return iso.slice(0, 16).replace('T', ' ') + ' UTC'; }
  /* A moment, as a <time> element the next localise() formats (for screens that build their rows in script). */
  function timeEl(iso) {
    var t = document.createElement('time');
    t.dateTime = iso;
    t.title = utcText(iso);
    t.setAttribute('data-attest-time', '');
    t.textContent = utcText(iso);
    return t;
  }
  /* A calendar date (YYYY-MM-DD); `due`: say how far away it is while it still matters. */
  function dateEl(day, due) {
    var t = document.createElement('time');
    t.dateTime = day;
    t.title = day;
    t.setAttribute('data-attest-date', '');
    if (due) t.setAttribute('data-attest-due', '');
    t.textContent = day;
    return t;
  }
  function daysFromToday(day, v) {
    var today = formatter(v, { year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date());
    var part = function (type) { return Number(today.filter(function (p) { return p.type === type; })[0].value); };
    return Math.round((Date.parse(day + 'T00:00:00Z') - Date.UTC(part('year'), part('month') - 1, part('day'))) / DAY);
  }
  function relativeDue(n) {
    if (n > 1) return 'in ' + n + ' days';
    if (n === 1) return 'tomorrow';
    if (n === 0) return 'today';
    return 'overdue by ' + -n + (n === -1 ? ' day' : ' days');
  }
  function localise(root) {
    return viewerSettings().then(function (v) {
      var scope = root || document;
      var moment = formatter(v, { dateStyle: 'medium', timeStyle: 'short' });
      var calendar = formatter({ locale: v.locale, timeZone: 'UTC' }, { dateStyle: 'medium' });
      scope.querySelectorAll('time[data-attest-time]').forEach(function (t) {
        var d = new Date(t.dateTime);
        if (isNaN(d.getTime())) return;
        t.textContent = moment.format(d);
        t.title = utcText(d.toISOString());
      });
      scope.querySelectorAll('time[data-attest-date]').forEach(function (t) {
        var d = new Date(t.dateTime + 'T12:00:00Z');
        if (isNaN(d.getTime())) return;
        t.textContent = calendar.format(d);
        if (!t.hasAttribute('data-attest-due') || t.nextElementSibling && t.nextElementSibling.classList.contains('attest-relative')) return;
        var rel = document.createElement('span');
        rel.className = 'attest-relative';
        rel.textContent = ' (' + relativeDue(daysFromToday(t.dateTime, v)) + ')';
        t.parentNode.insertBefore(rel, t.nextSibling);
        var fallback = t.parentNode.querySelector('[data-attest-fallback]');
        if (fallback) fallback.remove();
      });
      scope.setAttribute && scope.setAttribute('data-localised', '');
      if (scope === document) document.body.setAttribute('data-localised', '');
      resize();
    });
  }

  window.Attest = { token: token, api: api, resize: resize, localise: localise, timeEl: timeEl, dateEl: dateEl };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', function () { localise(); });
  else localise();
})();
