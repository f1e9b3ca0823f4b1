/*
 * The people-and-groups picker shared by the macro editor and the space settings: a search box each for
 * people (Confluence user search) and groups (group picker), and the chosen ones as removable chips.
 * Expects #people-search/#people-results/#people-chosen and #group-search/#group-results/#group-chosen.
 */
(function () {
  'use strict';
  function approverPicker(opts) {
    var people = []; // {accountId, displayName}
    var groups = []; // names

    function chip(list, label, onRemove) {
      var li = document.createElement('li');
      li.textContent = label + ' ';
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'chip-remove';
      b.setAttribute('aria-label', 'Remove ' + label);
      b.textContent = '×';
      b.addEventListener('click', onRemove);
      li.appendChild(b);
      list.appendChild(li);
    }
    function render() {
      var pl = document.getElementById('people-chosen');
      var gl = document.getElementById('group-chosen');
      pl.textContent = '';
      gl.textContent = '';
      people.forEach(function (p, i) { chip(pl, p.displayName, function () { people.splice(i, 1); render(); }); });
      groups.forEach(function (g, i) { chip(gl, g, function () { groups.splice(i, 1); render(); }); });
      Attest.resize();
    }
    function search(inputId, resultsId, url, label, add, chosen) {
      var input = document.getElementById(inputId);
      var results = document.getElementById(resultsId);
      var timer = null;
      input.addEventListener('input', function () {
        clearTimeout(timer);
        var q = input.value.trim();
        if (!q) { results.textContent = ''; return; }
        timer = setTimeout(function () {
          Attest.api('GET', opts.prefix + url + '?q=' + encodeURIComponent(q)).then(function (data) {
            results.textContent = '';
            data.results.forEach(function (r) {
              var li = document.createElement('li');
              var b = document.createElement('button');
              b.type = 'button';
              b.textContent = label(r);
              // A result is something to add; someone already picked says so instead of looking like a chip.
              if (chosen(r)) {
                b.setAttribute('aria-disabled', 'true');
                b.setAttribute('aria-label', label(r) + ' (already added)');
              } else {
                b.setAttribute('aria-label', 'Add ' + label(r));
                b.addEventListener('click', function () { add(r); input.value = ''; results.textContent = ''; render(); input.focus(); });
              }
              li.appendChild(b);
              results.appendChild(li);
            });
            if (!data.results.length) { var li = document.createElement('li'); li.className = 'attest-no-match'; li.textContent = 'No match.'; results.appendChild(li); }
            Attest.resize();
          }).catch(function (err) { opts.onError(err); });
        }, 200);
      });
    }
    search('people-search', 'people-results', 'api/pickers/users', function (u) { return u.displayName; }, function (u) {
      if (!people.some(function (p) { return p.accountId === u.accountId; })) people.push({ accountId: u.accountId, displayName: u.displayName });
    }, function (u) { return people.some(function (p) { return p.accountId === u.accountId; }); });
    search('group-search', 'group-results', 'api/pickers/groups', function (g) { return g.name; }, function (g) {
      if (groups.indexOf(g.name) < 0) groups.push(g.name);
    }, function (g) { return groups.indexOf(g.name) >= 0; });
    return {
      people: function () { return people.slice(); },
      groups: function () { return groups.slice(); },
      set: function (p, g) { people = p.slice(); groups = g.slice(); render(); },
    };
  }
  window.Attest = Object.assign(window.Attest || {}, { approverPicker: approverPicker });
})();
