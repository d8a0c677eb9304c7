/* Live updates from /api/v1/events (server-sent events) into the Dash store "live-events".
 *
 * The store holds {last: event, recent: [newest first, at most RECENT], seq: n}: a page callback
 * that misses an intermediate update (Dash drops superseded callback runs) still sees every
 * recent event. Connection state goes to <html data-live-state="connecting|live|reconnecting">;
 * the header mark shows the matching label (text from the i18n catalogue, rendered by Python).
 * Reconnects with exponential backoff and jitter, resuming after the last event id received.
 * Served by the app itself (assets/), no external resources.
 */
(function () {
  "use strict";

  var ENDPOINT = "/api/v1/events";
  var RECENT = 50;
  var MIN_BACKOFF_MS = 1000;
  var MAX_BACKOFF_MS = 30000;
  var STORE_ID = "live-events";

  var source = null;
  var backoff = MIN_BACKOFF_MS;
  var retryTimer = null;
  var lastEventId = null;
  var recent = [];
  var seq = 0;
  var pending = false;

  function setState(state) {
    document.documentElement.setAttribute("data-live-state", state);
  }

  function dashReady() {
    // The store has no DOM node; the shell root is rendered from the same layout.
    return !!(window.dash_clientside && window.dash_clientside.set_props && document.getElementById("shell-root"));
  }

  function pushToDash() {
    if (!dashReady()) {
      if (!pending) {
        pending = true;
        setTimeout(function () { pending = false; pushToDash(); }, 250);
      }
      return;
    }
    window.dash_clientside.set_props(STORE_ID, { data: { last: recent[0] || null, recent: recent.slice(), seq: seq } });
  }

  function onEvent(message) {
    var event;
    try {
      event = JSON.parse(message.data);
    } catch (err) {
      return; // not ours; never break the page over one bad message
    }
    if (message.lastEventId) {
      lastEventId = message.lastEventId;
    }
    for (var i = 0; i < recent.length; i++) {
      if (recent[i].id === event.id) {
        return; // already handed over (a resumed stream may repeat one)
      }
    }
    event.received_at = new Date().toISOString();
    recent.unshift(event);
    if (recent.length > RECENT) {
      recent.length = RECENT;
    }
    seq += 1;
    pushToDash();
  }

  function scheduleReconnect() {
    if (retryTimer !== null) {
      return;
    }
    setState("reconnecting");
    var delay = Math.round(backoff * (0.75 + Math.random() * 0.5));
    backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    retryTimer = setTimeout(function () { retryTimer = null; connect(); }, delay);
  }

  function connect() {
    if (typeof window.EventSource !== "function") {
      return;
    }
    var url = ENDPOINT + (lastEventId ? "?lastEventId=" + encodeURIComponent(lastEventId) : "");
    source = new EventSource(url);
    source.onopen = function () {
      backoff = MIN_BACKOFF_MS;
      setState("live");
    };
    ["incident.new", "incident.updated", "alarm", "data_version"].forEach(function (type) {
      source.addEventListener(type, onEvent);
    });
    source.addEventListener("stream-end", function () {
      // The server ends streams now and then (rebalancing workers): reconnect quietly.
      source.close();
      source = null;
      connect();
    });
    source.onerror = function () {
      // Own backoff instead of the browser's fixed retry: a restarting server or a full worker
      // (503) is not hammered by every wall and tablet at once.
      if (source) {
        source.close();
        source = null;
      }
      scheduleReconnect();
    };
  }

  function start() {
    setState("connecting");
    connect();
  }

  window.addEventListener("pagehide", function () {
    if (source) {
      source.close();
      source = null;
    }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted && !source) {
      start();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
