/* A session that ended while a page was open: back to the log-in page.
 *
 * The server answers a Dash callback (POST /_dash-update-component) with 401 when the caller's
 * session is over (idle too long, logged out elsewhere, account changed: app.security.access).
 * Dash itself would only log the failure and leave a page that no longer updates; this wraps
 * window.fetch and, on the first such 401, sends the browser to
 * /login?next=<this page's path and query>[&lang=…], where the user logs in and comes back here;
 * the refused callback is left pending (the page is being replaced), so Dash shows no error.
 * A 403 (the wrong role) or a 503 (database away) is left to the page. Served by the app
 * (assets/), no inline script (the Content-Security-Policy forbids it).
 */
(function () {
  "use strict";

  var CALLBACK_PATH = "/_dash-update-component";
  var LOGIN_PATH = "/login";
  var leaving = false;

  if (!window.fetch) {
    return;
  }

  function isCallback(input) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    try {
      return new URL(url, window.location.href).pathname.slice(-CALLBACK_PATH.length) === CALLBACK_PATH;
    } catch (error) {
      return false;
    }
  }

  function loginUrl() {
    var here = window.location.pathname + window.location.search;
    var params = new URLSearchParams();
    if (here && here !== "/" && here.indexOf(LOGIN_PATH) !== 0) {
      params.set("next", here);
    }
    var lang = new URLSearchParams(window.location.search).get("lang");
    if (lang === "zh" || lang === "en") {
      params.set("lang", lang);
    }
    var query = params.toString();
    return LOGIN_PATH + (query ? "?" + query : "");
  }

  var originalFetch = window.fetch;
  window.fetch = function (input, init) {
    var callback = isCallback(input);
    return originalFetch.apply(this, arguments).then(function (response) {
      if (callback && response.status === 401) {
        if (!leaving) {
          leaving = true;
          window.location.assign(loginUrl());
        }
        // The page is going away: Dash need not handle (and report) the refusal meanwhile.
        return new Promise(function () {});
      }
      return response;
    });
  };
})();
