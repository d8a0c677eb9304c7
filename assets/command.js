/* Command console (/command): browser back/forward between drill steps of the same page.
 *
 * The page pushes one history entry per step itself (a clientside callback in
 * app/pages/command.py). On back/forward between two such entries this listener takes the
 * popstate first (capture phase, before dcc.Location's listeners) and hands the URL to the page's
 * "command-url-restore" store, so the step is redrawn partially instead of Dash's page router
 * rebuilding the whole page. Entries of other pages, and a change of language, go the usual way.
 * It also reports the map's size (see below). Served by the app itself (assets/), no external resources.
 */
(function () {
  "use strict";

  var PATH = "/command";
  var STORE_ID = "command-url-restore";
  var SIZE_STORE_ID = "command-map-size";
  var MAP_ID = "command-map";

  /* The map's size in pixels goes to the "command-map-size" store, so that the server can send
   * each step's camera with its data (one deck.gl draw per step); again whenever it changes. */
  var watched = null;
  var reported = null;
  var resizeObserver = null;

  function reportSize() {
    var map = document.getElementById(MAP_ID);
    if (!map || !window.dash_clientside || !window.dash_clientside.set_props) { return; }
    var size = { w: Math.round(map.clientWidth), h: Math.round(map.clientHeight) };
    if (!size.w || !size.h || (reported && reported.w === size.w && reported.h === size.h && watched === map)) { return; }
    reported = size;
    window.dash_clientside.set_props(SIZE_STORE_ID, { data: size });
  }

  function watchMap() {
    var map = document.getElementById(MAP_ID);
    if (map === watched) { return; }
    if (resizeObserver) { resizeObserver.disconnect(); }
    watched = map;
    reported = null;
    if (map && window.ResizeObserver) {
      resizeObserver = new window.ResizeObserver(reportSize);
      resizeObserver.observe(map);
    }
    reportSize();
  }

  new MutationObserver(watchMap).observe(document.documentElement, { childList: true, subtree: true });
  window.addEventListener("resize", reportSize);

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
