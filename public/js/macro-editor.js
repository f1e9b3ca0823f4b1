/* The Approvals macro editor: pick people and groups, the rule and timing; save with AP.confluence.saveMacro. */
(function () {
  'use strict';
  var form = document.getElementById('attest-editor');
  if (!form) return;
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var msg = form.querySelector('.attest-message');
  var titleInput = document.getElementById('title');
  var afterInput = document.getElementById('after');
  var picker = Attest.approverPicker({ prefix: prefix, onError: function (err) { msg.textContent = err.message; } });

  function load(params) {
    params = params || {};
    var ids = (params.approvers || '').split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    var groups = (params.groups || '').split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    var rule = params.rule || 'all';
    var radio = form.querySelector('input[name=rule][value="' + rule + '"]');
    if (radio) radio.checked = true;
    titleInput.value = params.title || '';
    afterInput.value = params.after || '';
    form.quorum.value = params.quorum || '';
    form.rejections.value = params.rejections || '1';
    form.due.value = params.due || '';
    form.review.value = params.review || '';
    if (!ids.length) { picker.set([], groups); return; }
    // The server looks up at most 50 names per request.
    var chunks = [];
    for (var i = 0; i < ids.length; i += 50) chunks.push(ids.slice(i, i + 50));
    Promise.all(chunks.map(function (chunk) {
      return Attest.api('GET', prefix + 'api/pickers/users/names?ids=' + encodeURIComponent(chunk.join(',')));
    })).then(function (pages) {
      picker.set([].concat.apply([], pages.map(function (data) { return data.results; })), groups);
    }).catch(function () {
      picker.set(ids.map(function (id) { return { accountId: id, displayName: id }; }), groups);
    });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var rule = form.querySelector('input[name=rule]:checked').value;
    var people = picker.people();
    var groups = picker.groups();
    if (!people.length && !groups.length) { msg.textContent = 'Add at least one person or group.'; return; }
    if (rule === 'quorum' && !(Number(form.quorum.value) >= 1)) { msg.textContent = 'A quorum needs a number of approvals (1 or more).'; form.quorum.focus(); return; }
    // The same rule the server applies to the title: one line, at most 100 characters.
    var title = titleInput.value.trim();
    if (/[\u0000-\u001f\u007f-\u009f]/.test(title)) { msg.textContent = 'Title must not contain control characters (such as line breaks).'; titleInput.focus(); return; }
    if (title.length > 100) { msg.textContent = 'Title must be at most 100 characters.'; titleInput.focus(); return; }
    var after = afterInput.value.trim();
    if (/[\u0000-\u001f\u007f-\u009f]/.test(after)) { msg.textContent = 'After must not contain control characters (such as line breaks).'; afterInput.focus(); return; }
    if (after.length > 100) { msg.textContent = 'After must be at most 100 characters.'; afterInput.focus(); return; }
    if (after && after === title) { msg.textContent = 'After names another Approvals macro on this page, not this one.'; afterInput.focus(); return; }
    var params = {
      title: title,
      after: after,
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
