/*
 * Space tools → Attest → Calendar: the space's calendar subscription. The URL comes back once, from the
 * request that makes it; the status call never returns it (only its hash is kept).
 */
(function () {
  'use strict';
  var form = document.getElementById('calendar-form');
  if (!form) return;
  var prefix = document.querySelector('link[rel=stylesheet]').href.replace(/public\/css\/attest\.css.*$/, '');
  var api = prefix + 'api/spaces/' + encodeURIComponent(form.dataset.spaceKey) + '/calendar-feed';
  var status = document.getElementById('calendar-status');
  var titles = document.getElementById('calendar-titles');
  var create = document.getElementById('calendar-create');
  var revoke = document.getElementById('calendar-revoke');
  var box = document.getElementById('calendar-url-box');
  var urlField = document.getElementById('calendar-url');
  var webcal = document.getElementById('calendar-webcal');
  var msg = document.getElementById('calendar-message');
  var exists = false;

  function show(s) {
    exists = s.exists;
    titles.checked = !!s.showTitles;
    titles.disabled = false;
    status.textContent = '';
    if (s.exists) {
      status.appendChild(document.createTextNode('This space has a calendar URL, created on '));
      status.appendChild(Attest.timeEl(s.createdAt));
      status.appendChild(document.createTextNode(s.showTitles ? '. Its events show page titles.' : '. Its events name pages by id only.'));
      Attest.localise(status);
    } else {
      status.textContent = 'This space has no calendar URL.';
    }
    create.textContent = s.exists ? 'Replace the URL (the old one stops working)' : 'Create calendar URL';
    revoke.hidden = !s.exists;
    Attest.resize();
  }
  function fail(err) {
    msg.className = 'attest-message';
    msg.textContent = err.message;
  }
  function done(text) {
    msg.className = 'attest-message is-success';
    msg.textContent = text;
  }

  Attest.api('GET', api).then(show).catch(function (err) { status.textContent = ''; fail(err); });

  create.addEventListener('click', function () {
    create.disabled = true;
    Attest.api('POST', api, { showTitles: titles.checked }).then(function (s) {
      show(s);
      urlField.value = s.url;
      webcal.href = s.webcalUrl;
      box.hidden = false;
      urlField.focus();
      urlField.select();
      done(s.rotated ? 'New URL made: subscriptions to the old one stop updating. Give people the new one.' : 'Calendar URL made. Copy it now: Attest does not show it again.');
      Attest.resize();
    }).catch(fail).then(function () { create.disabled = false; });
  });

  titles.addEventListener('change', function () {
    if (!exists) return;
    titles.disabled = true;
    Attest.api('PUT', api, { showTitles: titles.checked }).then(function (s) {
      show(s);
      done(s.showTitles ? 'The calendar now shows page titles.' : 'The calendar now names pages by id only.');
    }).catch(function (err) { titles.checked = !titles.checked; titles.disabled = false; fail(err); });
  });

  revoke.addEventListener('click', function () {
    revoke.disabled = true;
    Attest.api('DELETE', api).then(function () {
      box.hidden = true;
      urlField.value = '';
      show({ exists: false, showTitles: titles.checked });
      done('The calendar URL is revoked: it answers "not found" from now on.');
    }).catch(fail).then(function () { revoke.disabled = false; });
  });
})();
