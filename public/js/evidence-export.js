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
    var choice = (ev.submitter && ev.submitter.value) || format;
    // The SOC 2 report has links of its own: view opens it in a new tab, download saves the HTML file.
    var report = choice === 'report-view' || choice === 'report-download';
    var body = report ? {} : { format: choice };
    if (form.elements.from.value) body.from = form.elements.from.value;
    if (form.elements.to.value) body.to = form.elements.to.value;
    msg.className = 'attest-message';
    msg.textContent = report ? 'Preparing the report…' : 'Preparing the download…';
    var space = encodeURIComponent(form.dataset.spaceKey);
    Attest.api('POST', prefix + 'api/spaces/' + space + (report ? '/report-links' : '/evidence-links'), body)
      .then(function (link) {
        var a = document.createElement('a');
        a.href = choice === 'report-download' ? link.downloadUrl : link.url;
        a.rel = 'noopener';
        if (choice === 'report-view') a.target = '_blank';
        document.body.appendChild(a);
        a.click();
        a.remove();
        msg.className = 'attest-message is-success';
        msg.textContent = choice === 'report-view'
          ? 'The report opens in a new tab. The link works for one minute.'
          : 'The download has started. The link works for one minute.';
      })
      .catch(function (err) {
        msg.className = 'attest-message';
        msg.textContent = err.message;
      });
  });
})();
