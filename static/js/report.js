// Customer report form: fill the hidden latitude/longitude from the phone's GPS or a tap on the map.
// Listeners are delegated from the document because htmx replaces the form after each answer.
(function () {
  "use strict";
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

  // The map (Leaflet and the tile painter, about 80 KB gzipped) is fetched only when someone asks for it.
  // Customers see the public `streets` tiles: zones and streets, not the network.
  function showMap() {
    var box = document.getElementById("map");
    box.hidden = false;
    FaultlineMap.load().then(function () {
      if (map && map.getContainer() === box) return;
      map = L.map(box, { attributionControl: true, zoomSnap: 0.25 });
      FaultlineMap.addBase(map, { tiles: "streets" }).then(function (config) {
        var e = config && config.extent;
        if (!e) { say("msgMapFailed"); return; }
        map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
      });
      map.on("click", function (e) {
        setPoint(e.latlng.lat, e.latlng.lng);
        if (marker) { marker.setLatLng(e.latlng); } else {
          marker = L.circleMarker(e.latlng, { radius: 9, color: "#c2410c" }).addTo(map);
        }
        say("msgPicked");
      });
    }).catch(function () { say("msgMapFailed"); });
  }

  document.addEventListener("click", function (event) {
    var id = event.target && event.target.id;
    if (id === "use-gps") useGps();
    if (id === "pick-on-map") showMap();
  });
})();
