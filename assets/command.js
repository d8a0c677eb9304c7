/* Command console (/command): browser back/forward between drill steps of the same page.
 *
 * The page pushes one history entry per step itself (a clientside callback in
 * app/pages/command.py). On back/forward between two such entries this listener takes the
 * popstate first (capture phase, before dcc.Location's listeners) and hands the URL to the page's
 * "command-url-restore" store, so the step is redrawn partially instead of Dash's page router
 * rebuilding the whole page. Entries of other pages, and a change of language, go the usual way.
 * Served by the app itself (assets/), no external resources.
 */
(function () {
  "use strict";

  var PATH = "/command";
  var STORE_ID = "command-url-restore";

  function langOf(search) {
    return new URLSearchParams(search).get("lang") || "";
  }

  window.addEventListener("popstate", function (event) {
    var page = document.querySelector(".page-command");
    if (!page || window.location.pathname !== PATH || !window.dash_clientside || !window.dash_clientside.set_props) {
      return;
    }
    var shownLang = page.getAttribute("data-lang") || "";
    var wantedLang = langOf(window.location.search);
    if (wantedLang && shownLang && wantedLang !== shownLang) {
      return; // another language: the router re-renders the page in it
    }
    event.stopImmediatePropagation();
    window.dash_clientside.set_props(STORE_ID, { data: { search: window.location.search, at: Date.now() } });
  }, true);
})();
