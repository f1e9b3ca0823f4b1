/*
 * Devhost stand-in for Atlassian's all.js. Same AP surface the Attest iframes use, carried over
 * window.postMessage to the devhost page that embeds the iframe (host.js answers there).
 * The host's origin is this script's own origin: the host serves its all.js.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var hostOrigin = new URL(script.src).origin;
  var options = {};
  (script.getAttribute('data-options') || '').split(';').forEach(function (pair) {
    var kv = pair.split(':');
    if (kv[0]) options[kv[0].trim()] = (kv[1] || '').trim();
  });
  var seq = 0;
  var pending = {};

  function call(type, payload) {
    return new Promise(function (resolve, reject) {
      var id = 'ap' + ++seq;
      pending[id] = { resolve: resolve, reject: reject };
      window.parent.postMessage({ devhost: 1, id: id, type: type, payload: payload || {} }, hostOrigin);
    });
  }

  window.addEventListener('message', function (event) {
    if (event.source !== window.parent || event.origin !== hostOrigin) return;
    var msg = event.data;
    if (!msg || msg.devhost !== 1 || !pending[msg.id]) return;
    var p = pending[msg.id];
    delete pending[msg.id];
    if (msg.error) p.reject(new Error(msg.error));
    else p.resolve(msg.result);
  });

  /** Atlassian's style: callback(result) when given, and a promise either way. */
  function withCallback(promise, callback) {
    if (typeof callback === 'function') {
      promise.then(function (r) { callback(r); }, function () { callback(undefined); });
    }
    return promise;
  }

  var AP = {
    context: {
      getToken: function (callback) { return withCallback(call('getToken'), callback); },
      getContext: function (callback) { return withCallback(call('getContext'), callback); },
    },
    user: {
      getLocale: function (callback) { return withCallback(call('getLocale'), callback); },
      getTimeZone: function (callback) { return withCallback(call('getTimeZone'), callback); },
    },
    resize: function (width, height) { call('resize', { width: width, height: height }); },
    sizeToParent: function () { call('sizeToParent'); },
    flag: {
      create: function (opts) {
        opts = opts || {};
        var created = call('flag', { title: String(opts.title || ''), body: String(opts.body || ''), type: String(opts.type || 'info') });
        return { close: function () { created.then(function (id) { call('flagClose', { id: id }); }); } };
      },
    },
    confluence: {
      saveMacro: function (params) { return call('saveMacro', { params: params || {} }); },
      getMacroData: function (callback) { return withCallback(call('getMacroData'), callback); },
      getMacroBody: function (callback) { return withCallback(Promise.resolve(''), callback); },
      closeMacroEditor: function () { call('closeMacroEditor'); },
    },
    navigator: {
      go: function () {},
      reload: function () { call('reload'); },
    },
    events: { on: function () {}, once: function () {}, off: function () {}, emit: function () {} },
  };
  window.AP = AP;

  // Like all.js, keep the iframe as tall as its content unless told to fill the parent.
  // The body's height: the document is never shorter than the frame, so measuring it would only grow.
  function autoResize() {
    if (!document.body) return;
    AP.resize('100%', Math.ceil(document.body.getBoundingClientRect().height) + 'px');
  }
  window.addEventListener('load', function () {
    if (options.sizeToParent === 'true') return AP.sizeToParent();
    autoResize();
    if (typeof ResizeObserver === 'function') new ResizeObserver(autoResize).observe(document.body);
  });
})();
