/* Calls the AP functions Attest uses and prints what came back (read by the browser test). */
(function () {
  'use strict';
  var out = document.getElementById('out');
  var results = {};
  new Promise(function (resolve) { AP.context.getToken(resolve); })
    .then(function (token) {
      results.callbackToken = token;
      return AP.context.getToken();
    })
    .then(function (token) {
      results.promiseToken = token;
      return new Promise(function (resolve) { AP.confluence.getMacroData(resolve); });
    })
    .then(function (params) {
      results.macroParams = params;
      AP.flag.create({ title: 'Self-test', body: 'all.js answered', type: 'success' });
      AP.resize('100%', '321px');
      out.textContent = JSON.stringify(results);
      out.setAttribute('data-done', 'ok');
    })
    .catch(function (e) {
      out.textContent = 'ERROR ' + e.message;
      out.setAttribute('data-done', 'error');
    });
  document.getElementById('save').addEventListener('click', function () {
    AP.confluence.getMacroData(function (params) {
      params.rule = 'all';
      params.review = '30';
      AP.confluence.saveMacro(params);
    });
  });
})();
