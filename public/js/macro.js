/* The Approvals macro: approve / reject through the public API, then refresh the block. */
(function () {
  'use strict';
  var root = document.querySelector('.attest-macro');
  if (!root) return;
  var base = 'api/pages/' + encodeURIComponent(root.dataset.pageId) + '/workflows/' + encodeURIComponent(root.dataset.macroId);
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var submitter = null;
  /* The click being saved: its Idempotency-Key is sent again when the same decision is retried (automatically
     after a 503 or a lost connection, or by clicking again), so the server records it once. */
  var pending = null;
  var MAX_TRIES = 4;
  var MAX_WAIT_S = 15;

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  /* Worth retrying with the same key: the database was away (503) or the answer never arrived (no status). */
  function retryable(err) {
    return !err.status || err.status === 503 || err.status === 502 || err.status === 504;
  }

  function send(body, key, tries, msg) {
    return Attest.api('POST', prefix + base + '/decisions', body, { 'Idempotency-Key': key }).catch(function (err) {
      if (!retryable(err) || tries + 1 >= MAX_TRIES) throw err;
      var wait = Math.min(MAX_WAIT_S, err.retryAfter !== undefined ? err.retryAfter : 2 * (tries + 1));
      msg.textContent = 'Attest is busy for a moment; trying again in ' + wait + ' s…';
      return new Promise(function (r) { setTimeout(r, wait * 1000); }).then(function () {
        msg.textContent = 'Saving…';
        return send(body, key, tries + 1, msg);
      });
    });
  }

  function refresh() {
    return Attest.api('GET', prefix + base + '/view').then(function (html) {
      var box = document.getElementById('attest-workflow');
      box.innerHTML = html;
      bind();
      return Attest.localise(box);
    });
  }

  function bind() {
    var form = root.querySelector('form.attest-decide');
    if (!form) return;
    form.querySelectorAll('button[name=decision]').forEach(function (b) {
      b.addEventListener('click', function () { submitter = b.value; });
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var decision = (ev.submitter && ev.submitter.value) || submitter;
      var comment = form.querySelector('textarea').value;
      var msg = form.querySelector('.attest-message');
      if (decision === 'reject' && !comment.trim()) {
        msg.textContent = 'Say why you reject: a rejection needs a comment.';
        form.querySelector('textarea').focus();
        return;
      }
      form.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
      msg.textContent = 'Saving…';
      var body = { decision: decision, comment: comment, pageVersion: Number(form.dataset.pageVersion) };
      /* A delegate chooses whom the decision is for (empty: themselves). */
      var forWhom = form.querySelector('select[name=onBehalfOf]');
      if (forWhom && forWhom.value) body.onBehalfOf = forWhom.value;
      var same = JSON.stringify(body);
      if (!pending || pending.body !== same) pending = { body: same, key: newKey() };
      send(body, pending.key, 0, msg).then(function () {
        pending = null;
        if (window.AP && AP.flag) AP.flag.create({ title: decision === 'approve' ? 'Approved' : 'Rejected', body: 'Your decision is recorded.', type: 'success' });
        return refresh();
      }).catch(function (err) {
        msg.textContent = err.message;
        form.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
      });
    });
  }

  bind();
  Attest.resize();
  window.addEventListener('load', Attest.resize);
})();
