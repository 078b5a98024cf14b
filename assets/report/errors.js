/* metroreach report: error capture. Inlined first in <head> so that anything failing later (the
 * map library, the report script, a blocked load) is recorded and shown by the self-test. */
(function () {
  'use strict';
  var errors = [];
  window.__metroreachErrors = errors;
  function push(msg) {
    try {
      errors.push(String(msg).slice(0, 500));
      // An error after the self-test summary was written: write it again.
      if (typeof window.__metroreachRewrite === 'function') {
        window.__metroreachRewrite();
      }
    } catch (e) { /* nothing sensible left to do */ }
  }
  window.onerror = function (msg, src, line, col, err) {
    var what = err && err.message ? err.name + ': ' + err.message : String(msg);
    push(what + ' (' + (src ? String(src).split('/').pop() : 'inline') + ':' + line + ':' + col + ')');
    return false;
  };
  // Elements that fail to load (images, scripts, styles): their error events do not bubble.
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) {
      push('failed to load ' + (t.src || t.href));
    }
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    var r = e.reason;
    push('unhandled rejection: ' + (r && r.message ? r.message : String(r)));
  });
  // Anything the page's policy blocked (it allows nothing from outside but the optional tiles).
  document.addEventListener('securitypolicyviolation', function (e) {
    push('blocked by the page policy: ' + e.blockedURI + ' (' + e.violatedDirective + ')');
  });
  var consoleError = console.error;
  console.error = function () {
    push('console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    return consoleError.apply(console, arguments);
  };
  // If the report's script never started (the map library failed to load, a syntax error),
  // still write a self-test summary so that a test sees why.
  window.addEventListener('load', function () {
    if (window.__metroreachReport) {
      return;
    }
    var el = document.getElementById('metroreach-selftest');
    if (el && !el.textContent) {
      el.textContent = JSON.stringify({
        ok: false,
        layers: {},
        errors: errors.concat(['the report script did not start'])
      });
    }
  });
})();
