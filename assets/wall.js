/* The video wall in the browser (/wall, /wall/<id>): carousel, screen scale, emergency switch,
 * clock, and what makes the server refresh the panels.
 *
 * Every scene is in the page, stacked; showing one is a class change and CSS cross-fades them on
 * the dark stage, so a rotation never blanks the screen or moves the layout. The carousel is
 * armed as soon as the wall's config arrives (callback on "wall-config" alone), never behind a
 * server refresh. The emergency store (set by the server's refresh) pauses the carousel on the
 * emergency scene until it is cleared, then the carousel resumes where it was.
 *
 * Refreshes (app/pages/wall.py, refresh_wall): this file sets every store that triggers one —
 * "wall-beat" (every tick), "wall-live" (a copy of the shell's "live-events"), "wall-active"
 * (the scene shown, the next one, and "soon" once the next one is about to show, so the server
 * refreshes it then and not before) and "wall-viewport" (the screen) — and keeps ONE refresh in
 * flight: Dash drops a running callback request when one of its inputs changes again, so live
 * events arriving faster than a refresh completes would otherwise keep every refresh from
 * finishing. What comes while one is in flight waits and goes together in the next one. Live
 * events are coalesced on top: live events go to the server at most every coalesce_ms (the first
 * of a burst at once, the rest on the trailing edge, or sooner with the next beat or scene
 * change), so a busy feed costs one refresh per window.
 * "wall-panels" (the refresh's output) coming back says the refresh finished; one without an
 * answer for in_flight_max_ms (a lost request) no longer holds the next one back.
 *
 * Memory over days: Dash records every input change made from the browser (set_props, the live
 * stream's store included, each holding its events) in its undo history, and never trims it
 * (plotly/dash#727); nothing on a wall can undo, so the history is cut to its last entry (what
 * Dash's error recovery reverts to) on every beat.
 *
 * deck.gl's canvas resolution is capped (data-max-dpr on #wall-root): deckgl-dash exposes no
 * useDevicePixels, so window.devicePixelRatio is capped for the page before any map is created;
 * on an 8K wall this keeps the map canvases to the screen's own pixels.
 * Served by the app itself (assets/), nothing external.
 */
(function () {
  "use strict";

  var realRatio = window.devicePixelRatio || 1;
  try {
    Object.defineProperty(window, "devicePixelRatio", {
      configurable: true,
      get: function () {
        var root = document.getElementById("wall-root");
        var cap = root ? parseFloat(root.getAttribute("data-max-dpr")) : NaN;
        return isFinite(cap) && cap > 0 ? Math.min(realRatio, cap) : realRatio;
      }
    });
  } catch (err) {
    /* a browser that refuses: deck.gl then uses the real ratio */
  }

  var DEFAULT_TIMING = { tick_ms: 5000, coalesce_ms: 2000, preroll_s: 10, in_flight_max_ms: 30000 };
  var HISTORY_KEEP = 1;

  var state = {
    config: null, emergency: null, index: 0, timer: null, prerollTimer: null, shown: null, soon: false, clock: null,
    resizeTimer: null, version: null, wall: null, beatTimer: null,
    // the refresh pump
    inFlightSince: 0, lastLiveSent: 0, beat: 0, beatPending: false, live: null, liveSentSeq: null, active: null, viewport: null,
    pumpTimer: null, refreshes: 0, liveRefreshes: 0
  };

  function timing() {
    var given = (state.config && state.config.timing) || {};
    return {
      tick_ms: given.tick_ms || DEFAULT_TIMING.tick_ms,
      coalesce_ms: given.coalesce_ms || DEFAULT_TIMING.coalesce_ms,
      preroll_s: given.preroll_s || DEFAULT_TIMING.preroll_s,
      in_flight_max_ms: given.in_flight_max_ms || DEFAULT_TIMING.in_flight_max_ms
    };
  }

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function onWall() {
    return !!document.getElementById("wall-root");
  }

  function scenes() {
    return (state.config && state.config.scenes) || [];
  }

  // --- the refresh pump ----------------------------------------------------------------------

  function pump() {
    clearTimeout(state.pumpTimer);
    state.pumpTimer = null;
    if (!state.config || !onWall()) { return; }
    var now = Date.now();
    var t = timing();
    if (state.inFlightSince && now - state.inFlightSince < t.in_flight_max_ms) {
      return; // refreshed() pumps again
    }
    var liveDue = !!(state.live && state.live.seq !== state.liveSentSeq);
    var other = state.beatPending || state.active !== null || state.viewport !== null;
    if (!other && !liveDue) { return; }
    if (!other) {
      var wait = state.lastLiveSent + t.coalesce_ms - now;
      if (wait > 0) { // the trailing edge of this window
        state.pumpTimer = setTimeout(pump, wait);
        return;
      }
    }
    // Everything pending goes in one request (Dash merges the stores set in one turn).
    state.inFlightSince = now;
    state.refreshes += 1;
    if (state.viewport !== null) { setProps("wall-viewport", { data: state.viewport }); state.viewport = null; }
    if (state.active !== null) { setProps("wall-active", { data: state.active }); state.active = null; }
    if (liveDue) {
      state.liveSentSeq = state.live.seq;
      state.lastLiveSent = now;
      state.liveRefreshes += 1;
      setProps("wall-live", { data: state.live });
    }
    if (state.beatPending) { state.beat += 1; state.beatPending = false; setProps("wall-beat", { data: state.beat }); }
  }

  function refreshed() {
    state.inFlightSince = 0;
    pump();
  }

  function live(data) {
    if (!data) { return; }
    state.live = data;
    if (state.config) { pump(); }
  }

  function beat() {
    if (!onWall()) { stopBeat(); return; } // navigated away
    trimHistory();
    state.beatPending = true;
    pump();
  }

  function stopBeat() {
    clearInterval(state.beatTimer);
    state.beatTimer = null;
    clearTimeout(state.pumpTimer);
    clearTimeout(state.timer);
    clearTimeout(state.prerollTimer);
    state.config = null;
  }

  function trimHistory() {
    var stores = window.dash_stores || [];
    for (var i = 0; i < stores.length; i++) {
      var history = stores[i].getState && stores[i].getState().history;
      if (history && history.past && history.past.length > HISTORY_KEEP) {
        history.past.splice(0, history.past.length - HISTORY_KEEP);
      }
      if (history && history.future && history.future.length) {
        history.future.length = 0;
      }
    }
  }

  // --- the carousel --------------------------------------------------------------------------

  function show(sceneId) {
    var nodes = document.querySelectorAll(".wall-scene");
    for (var i = 0; i < nodes.length; i++) {
      var active = nodes[i].getAttribute("data-scene") === sceneId;
      nodes[i].classList.toggle("is-active", active);
      nodes[i].setAttribute("aria-hidden", active ? "false" : "true");
    }
    state.shown = sceneId;
    var title = document.getElementById("wall-scene-title");
    var list = scenes();
    var label = "";
    for (var j = 0; j < list.length; j++) {
      if (list[j].id === sceneId) { label = list[j].title || ""; }
    }
    if (!label) {
      // The emergency scene is not in the carousel's list: its section carries its title.
      for (var n = 0; n < nodes.length; n++) {
        if (nodes[n].getAttribute("data-scene") === sceneId) { label = nodes[n].getAttribute("aria-label") || ""; }
      }
    }
    if (title) { title.textContent = label; }
    var dots = document.getElementById("wall-dots");
    if (dots) {
      var html = "";
      for (var k = 0; k < list.length; k++) {
        html += '<i class="' + (list[k].id === sceneId ? "is-on" : "") + '"></i>';
      }
      dots.innerHTML = html;
    }
  }

  function dwell(index) {
    var list = scenes();
    return Math.max(5, (list[index] && list[index].dwell) || 60);
  }

  function report() {
    var list = scenes();
    if (!list.length) { return; }
    var current = state.emergency && state.config.emergency ? state.config.emergency : list[state.index].id;
    var next = list[(state.index + 1) % list.length].id;
    state.active = { scene: current, next: next, soon: !!state.soon && !state.emergency };
    pump();
  }

  function schedule() {
    clearTimeout(state.timer);
    clearTimeout(state.prerollTimer);
    var list = scenes();
    state.soon = false;
    if (state.emergency || list.length < 2) { return; }
    var seconds = dwell(state.index);
    var preroll = Math.max(0, seconds - timing().preroll_s);
    if (preroll <= 0) {
      state.soon = true;
    } else {
      state.prerollTimer = setTimeout(function () {
        if (!onWall()) { return; }
        state.soon = true;
        report();
      }, preroll * 1000);
    }
    state.timer = setTimeout(advance, seconds * 1000);
  }

  function advance() {
    if (!onWall()) { stopBeat(); return; } // navigated away
    var list = scenes();
    state.index = (state.index + 1) % list.length;
    show(list[state.index].id);
    schedule();
    report();
  }

  function reportViewport() {
    var canvas = (state.config && state.config.canvas) || [3840, 1080];
    var u = Math.min(window.innerWidth / canvas[0], window.innerHeight / canvas[1]);
    state.viewport = { u: Math.round(u * 1000) / 1000, w: window.innerWidth, h: window.innerHeight };
    pump();
  }

  function tickClock() {
    var node = document.getElementById("wall-clock");
    if (!node) { return; }
    var lang = (state.config && state.config.lang) === "en" ? "en-GB" : "zh-CN";
    node.textContent = new Intl.DateTimeFormat(lang, {
      timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
    }).format(new Date());
  }

  // --- entry points (app/pages/wall.py's clientside callbacks) ----------------------------------

  function configure(config) {
    if (!config) { return; }
    var fresh = !state.config || state.wall !== config.wall || state.version !== config.version || !state.beatTimer;
    state.config = config;
    state.wall = config.wall;
    state.version = config.version;
    if (!fresh) { return; }
    // A new wall or a new version laid out in place: start over. Nothing is in flight that
    // could answer for this layout (the refresh that re-laid it out answered with the layout).
    state.index = 0;
    state.emergency = null;
    state.inFlightSince = 0;
    state.liveSentSeq = null;
    state.beatPending = false;
    var root = document.getElementById("wall-root");
    if (root) { root.classList.remove("is-emergency"); }
    if (!state.clock) { state.clock = setInterval(tickClock, 1000); }
    tickClock();
    clearInterval(state.beatTimer);
    state.beatTimer = setInterval(beat, timing().tick_ms);
    show(scenes()[0].id);
    schedule();
    // The first refresh: the screen's size and the scenes, and whatever live events came first.
    state.viewport = null;
    reportViewport();
    report();
  }

  function emergency(value) {
    if (!state.config) { return; }
    var was = !!state.emergency;
    state.emergency = value && state.config.emergency ? value : null;
    var root = document.getElementById("wall-root");
    if (root) { root.classList.toggle("is-emergency", !!state.emergency); }
    if (state.emergency) {
      clearTimeout(state.timer);
      clearTimeout(state.prerollTimer);
      show(state.config.emergency);
      if (!was) { report(); }
    } else if (was) {
      show(scenes()[state.index].id);
      schedule();
      report();
    }
  }

  window.addEventListener("resize", function () {
    clearTimeout(state.resizeTimer);
    state.resizeTimer = setTimeout(function () { if (state.config) { reportViewport(); } }, 400);
  });

  window.cityopsWall = { configure: configure, emergency: emergency, live: live, refreshed: refreshed, state: state };
})();
