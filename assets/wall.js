/* The video wall in the browser (/wall, /wall/<id>): carousel, screen scale, emergency switch, clock.
 *
 * Every scene is in the page, stacked; showing one is a class change and CSS cross-fades them on
 * the dark stage, so a rotation never blanks the screen or moves the layout. The server is told
 * which scene is shown and which comes next (store "wall-active") so that it refreshes those
 * only. The emergency store (set by the server's refresh) pauses the carousel on the emergency
 * scene until it is cleared, then the carousel resumes where it was.
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

  var state = { config: null, emergency: null, index: 0, timer: null, shown: null, clock: null, resizeTimer: null, version: null };

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function scenes() {
    return (state.config && state.config.scenes) || [];
  }

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

  function report() {
    var list = scenes();
    if (!list.length) { return; }
    var current = state.emergency && state.config.emergency ? state.config.emergency : list[state.index].id;
    var next = list[(state.index + 1) % list.length].id;
    setProps("wall-active", { data: { scene: current, next: next } });
  }

  function schedule() {
    clearTimeout(state.timer);
    var list = scenes();
    if (state.emergency || list.length < 2) { return; }
    state.timer = setTimeout(advance, Math.max(5, list[state.index].dwell || 60) * 1000);
  }

  function advance() {
    if (!document.getElementById("wall-root")) { state.config = null; return; } // navigated away
    var list = scenes();
    state.index = (state.index + 1) % list.length;
    show(list[state.index].id);
    report();
    schedule();
  }

  function reportViewport() {
    var canvas = (state.config && state.config.canvas) || [3840, 1080];
    var u = Math.min(window.innerWidth / canvas[0], window.innerHeight / canvas[1]);
    setProps("wall-viewport", { data: { u: Math.round(u * 1000) / 1000, w: window.innerWidth, h: window.innerHeight } });
  }

  function tickClock() {
    var node = document.getElementById("wall-clock");
    if (!node) { return; }
    var lang = (state.config && state.config.lang) === "en" ? "en-GB" : "zh-CN";
    node.textContent = new Intl.DateTimeFormat(lang, {
      timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
    }).format(new Date());
  }

  function update(config, emergency) {
    if (!config) { return; }
    var fresh = !state.config || state.config.wall !== config.wall || state.version !== config.version;
    state.config = config;
    state.version = config.version;
    var root = document.getElementById("wall-root");
    if (fresh) {
      state.index = 0;
      reportViewport();
      if (!state.clock) { state.clock = setInterval(tickClock, 1000); }
      tickClock();
    }
    var was = !!state.emergency;
    state.emergency = emergency && config.emergency ? emergency : null;
    if (root) { root.classList.toggle("is-emergency", !!state.emergency); }
    if (state.emergency) {
      clearTimeout(state.timer);
      show(config.emergency);
      if (!was) { report(); }
    } else if (was || fresh) {
      show(scenes()[state.index].id);
      report();
      schedule();
    }
  }

  window.addEventListener("resize", function () {
    clearTimeout(state.resizeTimer);
    state.resizeTimer = setTimeout(function () { if (state.config) { reportViewport(); } }, 400);
  });

  window.cityopsWall = { update: update, state: state };
})();
