// Customer report form: fill the hidden latitude/longitude from the phone's GPS or a tap on the map.
// Listeners are delegated from the document because htmx replaces the form after each answer.
(function () {
  "use strict";
  var LEAFLET = "/static/vendor/leaflet-1.9.4/";
  var map = null, marker = null;

  function form() { return document.getElementById("report-form"); }
  function say(key, values) {
    var text = form().dataset[key] || "";
    Object.keys(values || {}).forEach(function (k) { text = text.replace("%(" + k + ")s", values[k]); });
    document.getElementById("location-status").textContent = text;
  }
  function setPoint(lat, lon) {
    document.getElementById("latitude").value = lat.toFixed(6);
    document.getElementById("longitude").value = lon.toFixed(6);
    // Ask the server whether a fault is already known here (the form shows it before sending).
    document.body.dispatchEvent(new Event("location-set"));
  }

  function useGps() {
    if (!navigator.geolocation) { say("msgFailed"); return; }
    say("msgLocating");
    navigator.geolocation.getCurrentPosition(function (pos) {
      setPoint(pos.coords.latitude, pos.coords.longitude);
      say("msgLocated", { metres: Math.round(pos.coords.accuracy) });
    }, function () { say("msgFailed"); }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  }

  // Leaflet (about 42 KB gzipped) is fetched only when someone asks for the map.
  function loadLeaflet(done) {
    if (window.L) { done(); return; }
    var css = document.createElement("link");
    css.rel = "stylesheet"; css.href = LEAFLET + "leaflet.css";
    document.head.appendChild(css);
    var script = document.createElement("script");
    script.src = LEAFLET + "leaflet.js";
    script.onload = done;
    script.onerror = function () { say("msgMapFailed"); };
    document.head.appendChild(script);
  }

  function showMap() {
    var box = document.getElementById("map");
    box.hidden = false;
    loadLeaflet(function () {
      if (map && map.getContainer() === box) return;
      map = L.map(box, { attributionControl: true, zoomSnap: 0.25 });
      fetch("/maps/base.geojson").then(function (r) { return r.json(); }).then(function (base) {
        var layer = L.geoJSON(base, {
          interactive: false,  // a backdrop: every tap goes to the map
          style: function (f) {
            return f.properties.layer === "zone"
              ? { color: "#12263a", weight: 1, fillOpacity: 0.04 }
              : { color: "#888", weight: f.properties.kind === "arterial" ? 3 : 1 };
          }
        }).addTo(map);
        map.fitBounds(layer.getBounds());
        map.attributionControl.addAttribution(base.attribution || "");
      }).catch(function () { say("msgMapFailed"); });
      map.on("click", function (e) {
        setPoint(e.latlng.lat, e.latlng.lng);
        if (marker) { marker.setLatLng(e.latlng); } else {
          marker = L.circleMarker(e.latlng, { radius: 9, color: "#c2410c" }).addTo(map);
        }
        say("msgPicked");
      });
    });
  }

  document.addEventListener("click", function (event) {
    var id = event.target && event.target.id;
    if (id === "use-gps") useGps();
    if (id === "pick-on-map") showMap();
  });
})();
