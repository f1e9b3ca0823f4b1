/* Space tools → Attest: settings (saved through the API) and the space's workflows (cursor-paginated). */
(function () {
  'use strict';
  var form = document.getElementById('space-settings-form');
  if (!form) return;
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var spaceKey = form.dataset.spaceKey;
  var api = prefix + 'api/spaces/' + encodeURIComponent(spaceKey);
  var msg = document.getElementById('settings-message');

  // ---- tabs (ADS keyboard pattern: arrows move, Enter/Space or focus selects) ----
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role=tab]'));
  var loaded = false;
  function select(tab) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
    });
    if (tab.id === 'tab-workflows' && !loaded) { loaded = true; loadWorkflows(false); }
    Attest.resize();
  }
  tabs.forEach(function (t, i) {
    t.addEventListener('click', function () { select(t); });
    t.addEventListener('keydown', function (ev) {
      var next = ev.key === 'ArrowRight' ? tabs[(i + 1) % tabs.length] : ev.key === 'ArrowLeft' ? tabs[(i + tabs.length - 1) % tabs.length] : null;
      if (next) { ev.preventDefault(); next.focus(); select(next); }
    });
  });

  // ---- default approvers and groups ----
  var picker = Attest.approverPicker({ prefix: prefix, onError: function (err) { msg.textContent = err.message; } });
  picker.set(
    Array.prototype.map.call(document.querySelectorAll('#people-chosen li'), function (li) {
      return { accountId: li.dataset.accountId, displayName: li.firstChild.textContent.trim() };
    }),
    Array.prototype.map.call(document.querySelectorAll('#group-chosen li'), function (li) { return li.dataset.group; })
  );

  // ---- save ----
  function num(name) {
    var v = form.elements[name].value.trim();
    return v === '' ? null : Number(v);
  }
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    msg.className = 'attest-message';
    var rule = form.elements.rule.value;
    if (rule === 'quorum' && !(num('quorum') >= 1)) { msg.textContent = 'A quorum rule needs a quorum of 1 or more.'; form.elements.quorum.focus(); return; }
    var body = {
      allowSelfApproval: form.elements.allowSelfApproval.checked,
      allowDelegation: form.elements.allowDelegation.checked,
      resetOnEdit: form.elements.resetOnEdit.value,
      reminderCadenceDays: num('reminderCadenceDays'),
      exportRole: form.elements.exportRole.value,
      defaults: {
        approvers: picker.people().map(function (p) { return p.accountId; }),
        groups: picker.groups(),
        rule: rule,
        quorum: rule === 'quorum' ? num('quorum') : null,
        rejections: num('rejections'),
        dueOffsetDays: num('dueOffsetDays'),
        reviewDays: num('reviewDays'),
      },
    };
    var button = form.querySelector('button[type=submit]');
    button.disabled = true;
    msg.textContent = 'Saving…';
    Attest.api('PUT', api + '/settings', body).then(function (res) {
      msg.className = 'attest-message is-success';
      msg.textContent = res.changed ? 'Saved. New and reopened macros in ' + spaceKey + ' follow these settings.' : 'Nothing changed.';
      if (res.updatedBy) {
        var saved = document.getElementById('saved-by');
        saved.textContent = 'Last changed by ' + res.updatedBy.displayName + ' on ';
        saved.appendChild(Attest.timeEl(res.updatedAt));
        saved.appendChild(document.createTextNode('.'));
        Attest.localise(saved);
      }
      if (res.changed && window.AP && AP.flag) AP.flag.create({ title: 'Settings saved', body: 'Attest settings of ' + spaceKey + ' changed.', type: 'success' });
    }).catch(function (err) {
      msg.textContent = err.message;
    }).then(function () { button.disabled = false; Attest.resize(); });
  });

  // ---- workflows ----
  var OPEN_STATES = ['pending', 'outdated', 'expired'];
  var STATE = {
    pending: ['Pending', 'inprogress'], outdated: ['Page changed', 'moved'], expired: ['Expired', 'moved'],
    approved: ['Approved', 'success'], rejected: ['Rejected', 'removed'], archived: ['Archived', 'default'],
  };
  var tbody = document.getElementById('workflows-body');
  var table = document.getElementById('workflows-table');
  var empty = document.getElementById('workflows-empty');
  var more = document.getElementById('load-more');
  var filter = document.getElementById('state-filter');
  var wmsg = document.getElementById('workflows-message');
  var summary = document.getElementById('workflows-summary');
  var cursor = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function cell(tr, label, child) {
    var td = el('td');
    td.setAttribute('data-label', label);
    if (child) td.appendChild(child);
    tr.appendChild(td);
    return td;
  }
  function lozenge(text, tone) { return el('span', text, 'lozenge lozenge-' + tone); }
  /* Text, then a moment the viewer reads in their own locale and zone, then text. */
  function lineWithTimes(text) {
    var p = el('p');
    var re = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) UTC/g;
    var last = 0;
    var m;
    while ((m = re.exec(text))) {
      p.appendChild(document.createTextNode(text.slice(last, m.index)));
      p.appendChild(Attest.timeEl(m[1] + 'T' + m[2] + ':00.000Z'));
      last = re.lastIndex;
    }
    p.appendChild(document.createTextNode(text.slice(last)));
    return p;
  }

  function withTime(tag, before, iso, after, cls) {
    var e = el(tag, before, cls);
    if (iso) e.appendChild(Attest.timeEl(iso));
    if (after) e.appendChild(document.createTextNode(after));
    return e;
  }

  function row(w) {
    var tr = el('tr');
    tr.dataset.workflowId = w.id;
    tr.dataset.state = w.state;
    var th = el('th');
    th.scope = 'row';
    var a = el('a', w.pageTitle || ('Page ' + w.pageId));
    a.href = w.pageUrl;
    a.target = '_top';
    th.appendChild(a);
    if (w.name) th.appendChild(el('span', w.name, 'attest-workflow-name'));
    if (w.stage) {
      // Ordered stages: where this one sits, and where the page stands.
      var where = w.stage.result === 'approved' ? 'all stages approved' : w.stage.result === 'rejected' ? 'rejected in ' + w.stage.current : 'current stage: ' + w.stage.current;
      th.appendChild(el('span', 'Stage ' + w.stage.position + ' of ' + w.stage.count + ' · ' + where, 'attest-workflow-name attest-workflow-stage'));
    }
    if (w.appCannotReadSince) {
      var warn = withTime('p', 'Attest cannot read this page since ', w.appCannotReadSince, ': its restrictions leave out the Attest app. Add "Attest" to the people who can view it.', 'attest-app-unreadable');
      warn.setAttribute('role', 'note');
      th.appendChild(warn);
    }
    tr.appendChild(th);
    var st = STATE[w.state] || [w.state, 'default'];
    var sc = cell(tr, 'State', lozenge(st[0], st[1]));
    if (w.overdue) { sc.appendChild(document.createTextNode(' ')); sc.appendChild(lozenge('Overdue', 'bold-removed')); }
    cell(tr, 'Version', el('span', 'v' + w.boundVersion));
    var waiting = w.waitingOn.users.map(function (u) { return u.displayName; }).concat(w.waitingOn.groups.map(function (g) { return 'a member of ' + g; }));
    cell(tr, 'Waiting for', el('span', waiting.length ? waiting.join(', ') : '—'));
    var due = el('span', w.dueDate ? '' : '—', 'attest-nowrap' + (w.overdue ? ' attest-overdue' : ''));
    if (w.dueDate) due.appendChild(Attest.dateEl(w.dueDate, OPEN_STATES.indexOf(w.state) >= 0));
    cell(tr, 'Due', due);
    var last = w.lastDecision;
    cell(tr, 'Last decision', last ? withTime('span', last.displayName + (last.decision === 'approve' ? ' approved' : ' rejected') + ', ', last.at, '') : el('span', '—'));
    return tr;
  }

  function showChain(chain) {
    var box = document.getElementById('chain-status');
    box.textContent = '';
    if (!chain || (!chain.verification && !chain.checkpoint)) { box.hidden = true; return; }
    var v = chain.verification;
    var c = chain.checkpoint;
    box.className = 'attest-section-message ' + (v ? (v.ok ? 'is-success' : 'is-danger') : '');
    var inner = el('div');
    inner.appendChild(el('h3', v ? (v.ok ? 'Audit trail checks passed' : 'Audit trail verification failed') : 'Audit trail'));
    // The server's lines say exactly which events each check re-hashed, and when (in UTC, to the minute): each
    // time is shown in the reader's zone, the UTC one on hover.
    (v && v.lines ? v.lines : []).forEach(function (line) { inner.appendChild(lineWithTimes(line)); });
    if (c) inner.appendChild(withTime('p', 'Latest signed checkpoint: event ' + c.seq + ', ', c.signedAt, '.'));
    box.appendChild(inner);
    box.hidden = false;
  }

  function loadWorkflows(append) {
    var q = [];
    if (filter.value) q.push('state=' + encodeURIComponent(filter.value));
    if (append && cursor) q.push('cursor=' + encodeURIComponent(cursor));
    wmsg.textContent = 'Loading…';
    more.disabled = true;
    return Attest.api('GET', api + '/workflows' + (q.length ? '?' + q.join('&') : '')).then(function (page) {
      if (!append) tbody.textContent = '';
      page.items.forEach(function (w) { tbody.appendChild(row(w)); });
      cursor = page.nextCursor;
      more.hidden = !cursor;
      var none = !tbody.children.length;
      table.hidden = none;
      empty.hidden = !none;
      if (none && filter.value) empty.querySelector('h2').textContent = 'No ' + filter.options[filter.selectedIndex].text.toLowerCase() + ' workflows';
      else if (none) empty.querySelector('h2').textContent = 'No workflows here yet';
      if (page.counts) {
        var total = Object.keys(page.counts).filter(function (k) { return k !== 'overdue'; }).reduce(function (n, k) { return n + page.counts[k]; }, 0);
        summary.textContent = total + ' workflows · ' + (page.counts.overdue || 0) + ' overdue · ' + ((page.counts.pending || 0) + (page.counts.outdated || 0) + (page.counts.expired || 0)) + ' waiting';
      }
      if (!append) showChain(page.chain);
      wmsg.textContent = '';
      return Attest.localise(document);
    }).then(function () {
      table.setAttribute('data-loaded', 'true');
    }).catch(function (err) {
      wmsg.textContent = err.message;
    }).then(function () { more.disabled = false; Attest.resize(); });
  }
  // ---- checkpoint trail page (site admins start it; everyone sees where it is) ----
  var trailStatus = document.getElementById('trail-status');
  var trailButton = document.getElementById('trail-enable');
  var trailMsg = document.getElementById('trail-message');
  function showTrail(t) {
    trailStatus.textContent = '';
    if (t.enabled) {
      trailStatus.appendChild(document.createTextNode('Kept in space ' + t.spaceKey + ': '));
      if (t.url) {
        var a = el('a', 'Attest audit checkpoints');
        a.href = t.url;
        a.target = '_top';
        trailStatus.appendChild(a);
      } else {
        trailStatus.appendChild(document.createTextNode('Attest audit checkpoints'));
      }
      if (t.publishedSeq) trailStatus.appendChild(withTime('span', ' (last written up to event ' + t.publishedSeq + ', ', t.publishedAt, ')'));
      Attest.localise(trailStatus);
    } else {
      trailStatus.textContent = t.canEnable ? 'Not kept yet.' : 'Not kept yet. A Confluence site administrator can start it here.';
    }
    trailButton.hidden = !t.canEnable;
    Attest.resize();
  }
  function loadTrail() {
    return Attest.api('GET', prefix + 'api/checkpoint-trail').then(showTrail).catch(function (err) {
      trailStatus.textContent = 'The checkpoint trail could not be loaded: ' + err.message;
    });
  }
  trailButton.addEventListener('click', function () {
    trailButton.disabled = true;
    trailMsg.className = 'attest-message';
    trailMsg.textContent = '';
    Attest.api('POST', prefix + 'api/checkpoint-trail', { spaceKey: spaceKey }).then(function (t) {
      showTrail(t);
      trailMsg.className = 'attest-message is-success';
      trailMsg.textContent = 'The checkpoint trail page was created.';
    }).catch(function (err) {
      trailMsg.className = 'attest-message';
      trailMsg.textContent = err.message;
    }).then(function () { trailButton.disabled = false; Attest.resize(); });
  });
  loadTrail();

  filter.addEventListener('change', function () { cursor = null; loadWorkflows(false); });
  more.addEventListener('click', function () { loadWorkflows(true); });

  Attest.resize();
  window.addEventListener('load', Attest.resize);
})();
