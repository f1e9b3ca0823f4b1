/* The Approvals macro: approve / reject through the public API, then refresh the block. */
(function () {
  'use strict';
  var root = document.querySelector('.attest-macro');
  if (!root) return;
  var base = 'api/pages/' + encodeURIComponent(root.dataset.pageId) + '/workflows/' + encodeURIComponent(root.dataset.macroId);
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var submitter = null;

  function refresh() {
    return Attest.api('GET', prefix + base + '/view').then(function (html) {
      document.getElementById('attest-workflow').innerHTML = html;
      bind();
      Attest.resize();
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
      Attest.api('POST', prefix + base + '/decisions', {
        decision: decision,
        comment: comment,
        pageVersion: Number(form.dataset.pageVersion),
      }).then(function () {
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
