/* My approvals: the server renders the list; Refresh reloads the page (a fresh, signed iframe URL is the host's job). */
(function () {
  'use strict';
  var root = document.getElementById('my-approvals');
  if (!root) return;
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var msg = root.querySelector('.attest-message');
  document.getElementById('refresh').addEventListener('click', function () {
    msg.textContent = 'Checking…';
    Attest.api('GET', prefix + 'api/me/approvals').then(function (data) {
      var shown = root.querySelectorAll('#my-approvals-list > li').length;
      if (data.items.length === shown) { msg.className = 'attest-message is-success'; msg.textContent = 'Up to date.'; return; }
      msg.className = 'attest-message is-success';
      msg.textContent = data.items.length + ' waiting now — reloading…';
      if (window.AP && AP.navigator && AP.navigator.reload) AP.navigator.reload();
      else window.location.reload();
    }).catch(function (err) { msg.className = 'attest-message'; msg.textContent = err.message; });
  });
  Attest.resize();
  window.addEventListener('load', Attest.resize);
})();
