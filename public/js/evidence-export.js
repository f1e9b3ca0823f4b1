/*
 * Space tools → Attest → Evidence: asks the API for a short-lived, single-purpose download link (the
 * context JWT cannot ride on a plain download) and lets the browser fetch the file from it.
 */
(function () {
  'use strict';
  var form = document.getElementById('evidence-form');
  if (!form) return;
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var msg = document.getElementById('evidence-message');
  var format = 'zip';
  form.querySelectorAll('button[type=submit]').forEach(function (b) {
    b.addEventListener('click', function () { format = b.value; });
  });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = { format: (ev.submitter && ev.submitter.value) || format };
    if (form.elements.from.value) body.from = form.elements.from.value;
    if (form.elements.to.value) body.to = form.elements.to.value;
    msg.className = 'attest-message';
    msg.textContent = 'Preparing the download…';
    Attest.api('POST', prefix + 'api/spaces/' + encodeURIComponent(form.dataset.spaceKey) + '/evidence-links', body)
      .then(function (link) {
        var a = document.createElement('a');
        a.href = link.url;
        a.rel = 'noopener';
        document.body.appendChild(a);
        a.click();
        a.remove();
        msg.className = 'attest-message is-success';
        msg.textContent = 'The download has started. The link works for one minute.';
      })
      .catch(function (err) {
        msg.className = 'attest-message';
        msg.textContent = err.message;
      });
  });
})();
