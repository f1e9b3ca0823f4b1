/*
 * The devhost page's side of the all.js stand-in: answers AP calls from the iframes it embeds.
 * A message is accepted only from one of our iframes' windows and from that iframe's origin.
 * Tokens are signed by the devhost server; no secret reaches the browser.
 */
(function () {
  'use strict';
  var frames = Array.prototype.slice.call(document.querySelectorAll('iframe.devhost-frame'));
  var flagSeq = 0;

  function frameOf(source) {
    for (var i = 0; i < frames.length; i++) if (frames[i].contentWindow === source) return frames[i];
    return null;
  }

  function postJson(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (json) {
        if (!res.ok) throw new Error(json.message || 'HTTP ' + res.status);
        return json;
      });
    });
  }

  function showFlag(p) {
    var box = document.getElementById('devhost-flags');
    var id = 'flag-' + ++flagSeq;
    var el = document.createElement('div');
    el.className = 'dh-flag dh-flag-' + (['success', 'info', 'warning', 'error'].indexOf(p.type) >= 0 ? p.type : 'info');
    el.id = id;
    var t = document.createElement('strong');
    t.textContent = p.title;
    var b = document.createElement('p');
    b.textContent = p.body;
    el.appendChild(t);
    el.appendChild(b);
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 8000);
    return id;
  }

  function macroParams(frame) {
    try { return JSON.parse(frame.dataset.macroParams || '{}'); } catch (e) { return {}; }
  }

  var handlers = {
    getToken: function (frame) {
      var d = frame.dataset;
      return postJson('/devhost/api/context-token', {
        as: d.as, pageId: d.pageId || undefined, pageVersion: d.pageVersion || undefined,
        spaceKey: d.spaceKey || undefined, macroId: d.macroId || undefined,
      }).then(function (j) { return j.token; });
    },
    getContext: function (frame) {
      var d = frame.dataset;
      var ctx = { confluence: {} };
      if (d.pageId) ctx.confluence.content = { id: d.pageId, version: d.pageVersion, type: 'page' };
      if (d.spaceKey) ctx.confluence.space = { key: d.spaceKey };
      if (d.macroId) ctx.confluence.macro = { id: d.macroId };
      return ctx;
    },
    // The signed-in viewer's profile settings (the page's body carries them, as Confluence knows its user).
    getLocale: function () { return document.body.dataset.locale || 'en-GB'; },
    getTimeZone: function () { return document.body.dataset.timeZone || 'UTC'; },
    resize: function (frame, p) {
      if (p.height) frame.style.height = /^\d+$/.test(String(p.height)) ? p.height + 'px' : String(p.height);
      if (p.width) frame.style.width = /^\d+$/.test(String(p.width)) ? p.width + 'px' : String(p.width);
      return null;
    },
    sizeToParent: function (frame) {
      frame.style.width = '100%';
      frame.style.height = Math.max(200, window.innerHeight - frame.getBoundingClientRect().top - 24) + 'px';
      return null;
    },
    flag: function (_frame, p) { return showFlag(p); },
    flagClose: function (_frame, p) {
      var el = document.getElementById(p.id);
      if (el) el.remove();
      return null;
    },
    getMacroData: function (frame) { return macroParams(frame); },
    saveMacro: function (frame, p) {
      var d = frame.dataset;
      return postJson('/devhost/api/pages/' + encodeURIComponent(d.pageId) + '/macros/' + encodeURIComponent(d.macroId), {
        as: d.as, params: p.params,
      }).then(function (j) {
        showFlag({ type: 'success', title: 'Macro saved', body: 'Page is now version ' + j.version + '.' });
        if (d.kind !== 'editor') setTimeout(function () { location.reload(); }, 600);
        return null;
      });
    },
    closeMacroEditor: function (frame) {
      if (frame.dataset.return) location.href = frame.dataset.return;
      return null;
    },
    reload: function () { location.reload(); return null; },
  };

  window.addEventListener('message', function (event) {
    var frame = frameOf(event.source);
    if (!frame) return;
    if (event.origin !== new URL(frame.src, location.href).origin) return;
    var msg = event.data;
    if (!msg || msg.devhost !== 1 || typeof msg.type !== 'string' || !handlers.hasOwnProperty(msg.type)) return;
    var reply = function (result, error) {
      event.source.postMessage({ devhost: 1, id: msg.id, result: result, error: error }, event.origin);
    };
    Promise.resolve()
      .then(function () { return handlers[msg.type](frame, msg.payload || {}); })
      .then(function (r) { reply(r === undefined ? null : r, null); }, function (e) { reply(null, String((e && e.message) || e)); });
  });

  var picker = document.querySelector('#devhost-as select');
  if (picker) picker.addEventListener('change', function () { picker.form.submit(); });
})();
