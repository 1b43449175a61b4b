// The dispatcher's console: a Leaflet map of open incidents and crews, kept live by Server-Sent Events.
// Each event only says "something changed"; the page then fetches the queue, the map and the open panel.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) return;
  var state = root.querySelector("[data-live-state]");
  var mapBox = document.getElementById("dispatch-map");
  var map, liveLayer, refreshTimer, pending = [];
  // The console's words, translated on the server (web/templates/dispatch/index.html).
  var words = JSON.parse(document.getElementById("dispatch-words").textContent);

  function fill(text, n) { return text.replace("{n}", String(n)); }

  function zoneFilter() {
    var select = document.querySelector("#queue-filters select[name=zone]");
    return select && select.value ? "?zone=" + encodeURIComponent(select.value) : "";
  }

  function colourOf(p) {
    if (p.kind === "crew") return p.status === "available" ? "#15803d" : "#1d4ed8";
    if (p.danger) return "#b91c1c";
    return p.status === "reported" ? "#c2410c" : "#6b21a8";
  }

  function openIncident(id) {
    htmx.ajax("GET", "/dispatch/incidents/" + id, { target: "#incident-panel" });
  }

  function drawLive() {
    if (!map) return;
    fetch(mapBox.dataset.map + zoneFilter(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (liveLayer) liveLayer.remove();
        liveLayer = L.geoJSON(data, {
          pointToLayer: function (feature, latlng) {
            var p = feature.properties;
            var radius = p.kind === "crew" ? 6 : Math.min(22, 5 + Math.sqrt(p.customers || 0));
            return L.circleMarker(latlng, {
              radius: radius, color: p.kind === "crew" ? "#111827" : colourOf(p), weight: p.danger ? 4 : 2,
              fillColor: colourOf(p), fillOpacity: p.kind === "crew" ? 0.9 : 0.45
            });
          },
          onEachFeature: function (feature, layer) {
            var p = feature.properties;
            var status = (p.kind === "crew" ? words.crewStatuses : words.statuses)[p.status] || p.status;
            var label = p.kind === "crew"
              ? p.code + " · " + p.name + " · " + status + (p.minutes != null ? " · " + fill(words.minutes, p.minutes) : "")
              : p.code + " · " + status + " · " + fill(words.customers, p.customers);
            // A DOM node with text: Leaflet would insert a string as HTML (a crew's name is data, not markup).
            var tip = document.createElement("span");
            tip.textContent = label;
            layer.bindTooltip(tip);
            if (p.kind === "incident") layer.on("click", function () { openIncident(p.id); });
          }
        }).addTo(map);
      });
  }

  function startMap() {
    if (typeof L === "undefined") return;
    map = L.map(mapBox, { zoomSnap: 0.25 });
    fetch("/maps/config.json").then(function (r) { return r.json(); }).then(function (config) {
      var e = config.extent;
      if (e) map.fitBounds([[e[1], e[0]], [e[3], e[2]]]); else map.setView([0, 0], 2);
      FaultlineMap.addBase(map, { tiles: "base", config: config });
      drawLive();
    });
  }

  function panelIsBusy(panel) {
    // Never throw away what a dispatcher is typing: tell them instead.
    var active = document.activeElement;
    return active && panel.contains(active) && /INPUT|TEXTAREA|SELECT/.test(active.tagName);
  }

  // Crews' moves and positions (a ping from every crew every few minutes) redraw the map at most every few
  // seconds and leave the queue alone; a change to an incident refreshes everything at once.
  var crewTimer = null, crewDrawnAt = 0;
  function crewsMoved() {
    if (crewTimer) return;
    var every = Number(root.dataset.crewRefreshMs || 10000);
    crewTimer = setTimeout(function () {
      crewTimer = null;
      crewDrawnAt = Date.now();
      drawLive();
      var panel = document.querySelector("#incident-panel [data-incident]");  // its nearest crews
      if (panel && !panelIsBusy(panel)) openIncident(Number(panel.dataset.incident));
    }, Math.max(0, every - (Date.now() - crewDrawnAt)));
  }

  function refresh(change) {
    if (change.topic === "crew") { crewsMoved(); return; }
    // Changes coming close together are handled at once, all of them: the open panel may be among them.
    pending.push(change);
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      var changes = pending;
      pending = [];
      htmx.trigger(document.body, "dispatch-changed");
      var panel = document.querySelector("#incident-panel [data-incident]");
      if (!panel) return;
      var id = Number(panel.dataset.incident);
      var seen = Number(panel.dataset.liveSeen || 0);
      // The panel already shows every change up to `seen`: the echo of the dispatcher's own action among
      // them, and fetching it again would wipe the "Crew assigned." they have just been shown.
      changes = changes.filter(function (c) { return !(c.event <= seen); });
      var mine = changes.some(function (c) { return c.topic === "incident" && c.id === id; });
      if (!mine && !changes.some(function (c) { return c.topic === "all"; })) return;
      if (panelIsBusy(panel)) {
        if (mine) state.textContent = root.dataset.msgStale;
      } else {
        openIncident(id);
      }
    }, 250);
  }

  function listen() {
    var source = new EventSource(root.dataset.live);
    source.addEventListener("open", function () { state.textContent = ""; root.dataset.liveState = "open"; });
    source.addEventListener("changed", function (event) {
      var change = JSON.parse(event.data);
      change.event = Number(event.lastEventId);
      refresh(change);
    });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself, sending the last event id: the server tells us what we missed.
      state.textContent = root.dataset.msgOffline;
      root.dataset.liveState = "reconnecting";
    });
  }

  document.body.addEventListener("dispatch-changed", drawLive);
  document.body.addEventListener("htmx:afterSwap", function (event) {
    // A fresh panel is no longer stale.
    if (event.detail.target.id === "incident-panel" && state.textContent === root.dataset.msgStale) {
      state.textContent = "";
    }
  });
  document.body.addEventListener("change", function (event) {
    if (event.target.closest("#queue-filters")) drawLive();
  });
  startMap();
  listen();
})();
