/* The Approvals macro editor: pick people and groups, the rule and timing; save with AP.confluence.saveMacro. */
(function () {
  'use strict';
  var form = document.getElementById('attest-editor');
  if (!form) return;
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var people = []; // {accountId, displayName}
  var groups = []; // names
  var msg = form.querySelector('.attest-message');

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
  function renderChosen() {
    var pl = document.getElementById('people-chosen');
    var gl = document.getElementById('group-chosen');
    pl.textContent = '';
    gl.textContent = '';
    people.forEach(function (p, i) { chip(pl, p.displayName, function () { people.splice(i, 1); renderChosen(); }); });
    groups.forEach(function (g, i) { chip(gl, g, function () { groups.splice(i, 1); renderChosen(); }); });
    Attest.resize();
  }
  function picker(inputId, resultsId, url, label, add) {
    var input = document.getElementById(inputId);
    var results = document.getElementById(resultsId);
    var timer = null;
    input.addEventListener('input', function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q) { results.textContent = ''; return; }
      timer = setTimeout(function () {
        Attest.api('GET', prefix + url + '?q=' + encodeURIComponent(q)).then(function (data) {
          results.textContent = '';
          data.results.forEach(function (r) {
            var li = document.createElement('li');
            var b = document.createElement('button');
            b.type = 'button';
            b.textContent = label(r);
            b.addEventListener('click', function () { add(r); input.value = ''; results.textContent = ''; renderChosen(); input.focus(); });
            li.appendChild(b);
            results.appendChild(li);
          });
          if (!data.results.length) { var li = document.createElement('li'); li.textContent = 'Nobody found.'; results.appendChild(li); }
          Attest.resize();
        }).catch(function (err) { msg.textContent = err.message; });
      }, 200);
    });
  }
  picker('people-search', 'people-results', 'api/pickers/users', function (u) { return u.displayName; }, function (u) {
    if (!people.some(function (p) { return p.accountId === u.accountId; })) people.push({ accountId: u.accountId, displayName: u.displayName });
  });
  picker('group-search', 'group-results', 'api/pickers/groups', function (g) { return g.name; }, function (g) {
    if (groups.indexOf(g.name) < 0) groups.push(g.name);
  });

  function load(params) {
    params = params || {};
    var ids = (params.approvers || '').split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    groups = (params.groups || '').split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    var rule = params.rule || 'all';
    var radio = form.querySelector('input[name=rule][value="' + rule + '"]');
    if (radio) radio.checked = true;
    form.quorum.value = params.quorum || '';
    form.rejections.value = params.rejections || '1';
    form.due.value = params.due || '';
    form.review.value = params.review || '';
    if (!ids.length) { people = []; renderChosen(); return; }
    Attest.api('GET', prefix + 'api/pickers/users/names?ids=' + encodeURIComponent(ids.join(','))).then(function (data) {
      people = data.results;
      renderChosen();
    }).catch(function () {
      people = ids.map(function (id) { return { accountId: id, displayName: id }; });
      renderChosen();
    });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var rule = form.querySelector('input[name=rule]:checked').value;
    if (!people.length && !groups.length) { msg.textContent = 'Add at least one person or group.'; return; }
    if (rule === 'quorum' && !(Number(form.quorum.value) >= 1)) { msg.textContent = 'A quorum needs a number of approvals (1 or more).'; form.quorum.focus(); return; }
    var params = {
      approvers: people.map(function (p) { return p.accountId; }).join(','),
      groups: groups.join(','),
      rule: rule,
      quorum: rule === 'quorum' ? String(form.quorum.value) : '',
      rejections: String(form.rejections.value || '1'),
      due: form.due.value || '',
      review: form.review.value || '',
    };
    AP.confluence.saveMacro(params);
    AP.confluence.closeMacroEditor();
  });
  document.getElementById('cancel').addEventListener('click', function () { AP.confluence.closeMacroEditor(); });

  if (window.AP && AP.confluence && AP.confluence.getMacroData) AP.confluence.getMacroData(load);
  else load({});
  Attest.resize();
})();
