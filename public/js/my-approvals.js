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
  outOfOffice();
  Attest.resize();
  window.addEventListener('load', Attest.resize);

  /* Out of office: search a person, pick the days, save (PUT) or end (DELETE) the delegation, then reload. */
  function outOfOffice() {
    var form = document.getElementById('ooo-form');
    if (!form) return;
    var search = document.getElementById('ooo-search');
    var results = document.getElementById('ooo-results');
    var chosenLine = document.getElementById('ooo-chosen');
    var out = document.getElementById('ooo-message');
    var chosen = form.dataset.delegate || null;
    var timer = null;
    function done(text) {
      out.className = 'attest-message is-success';
      out.textContent = text;
      if (window.AP && AP.navigator && AP.navigator.reload) AP.navigator.reload();
      else window.location.reload();
    }
    function failed(err) { out.className = 'attest-message'; out.textContent = err.message; }
    search.addEventListener('input', function () {
      clearTimeout(timer);
      chosen = null;
      chosenLine.textContent = '';
      var q = search.value.trim();
      if (!q) { results.textContent = ''; return; }
      timer = setTimeout(function () {
        Attest.api('GET', prefix + 'api/pickers/users?q=' + encodeURIComponent(q)).then(function (data) {
          results.textContent = '';
          data.results.forEach(function (r) {
            var li = document.createElement('li');
            var b = document.createElement('button');
            b.type = 'button';
            b.textContent = r.displayName;
            b.setAttribute('aria-label', 'Choose ' + r.displayName);
            b.addEventListener('click', function () {
              chosen = r.accountId;
              search.value = r.displayName;
              chosenLine.textContent = 'Chosen: ' + r.displayName;
              results.textContent = '';
              Attest.resize();
            });
            li.appendChild(b);
            results.appendChild(li);
          });
          if (!data.results.length) { var li = document.createElement('li'); li.className = 'attest-no-match'; li.textContent = 'No match.'; results.appendChild(li); }
          Attest.resize();
        }).catch(failed);
      }, 200);
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (!chosen) { failed(new Error('Choose a delegate from the search results.')); search.focus(); return; }
      out.className = 'attest-message';
      out.textContent = 'Saving…';
      Attest.api('PUT', prefix + 'api/me/delegation', { delegate: chosen, from: form.elements.from.value, to: form.elements.to.value })
        .then(function () { done('Saved — reloading…'); })
        .catch(failed);
    });
    var end = document.getElementById('ooo-end');
    if (end) end.addEventListener('click', function () {
      out.textContent = 'Ending…';
      Attest.api('DELETE', prefix + 'api/me/delegation').then(function () { done('Ended — reloading…'); }).catch(failed);
    });
  }
})();
