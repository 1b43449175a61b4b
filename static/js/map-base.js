// The base map every Faultline map draws: the network's own vector tiles from PostGIS (zones, streets,
// feeders, transformers), drawn on a canvas by protomaps-leaflet, and under them, when online and
// configured, the utility's own basemap (FAULTLINE_BASEMAP_URL, raster or Protomaps vector tiles).
// Crews keep the `base` tiles offline (offline-map.js); customers see only `streets`.
(function () {
  "use strict";
  // The library's URLs, by content, come on this script's own tag (web/templates/_map_base_script.html).
  var LIBRARY = document.currentScript.dataset;

  function addScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error(src)); };
      document.head.appendChild(script);
    });
  }

  // Leaflet and the tile painter (about 80 KB gzipped together) are fetched only when a map is asked for.
  function load() {
    if (window.L && window.protomapsL) return Promise.resolve();
    if (!document.querySelector("link[data-leaflet]")) {
      var css = document.createElement("link");
      css.rel = "stylesheet"; css.href = LIBRARY.leafletCss; css.dataset.leaflet = "";
      document.head.appendChild(css);
    }
    return (window.L ? Promise.resolve() : addScript(LIBRARY.leaflet)).then(function () {
      return window.protomapsL ? null : addScript(LIBRARY.protomaps);
    });
  }

  // Leaflet inserts attributions as HTML: hand it the credit line escaped, so it shows as the text it is.
  function asText(text) {
    var box = document.createElement("span");
    box.textContent = text;
    return box.innerHTML;
  }

  function rules(p) {
    var line = function (color, width) { return new p.LineSymbolizer({ color: color, width: width }); };
    return {
      paint: [
        { dataLayer: "zones", symbolizer: new p.PolygonSymbolizer({ fill: "#12263a", opacity: 0.04 }) },
        { dataLayer: "zones", symbolizer: line("#12263a", 1) },
        { dataLayer: "roads", symbolizer: line("#9ca3af", function (z, f) {
          return (f && f.props.kind === "arterial" ? 2.5 : 1.2) * (z >= 15 ? 1.6 : 1);
        }) },
        { dataLayer: "feeders", symbolizer: line("#f59e0b", 1.5) },
        { dataLayer: "transformers", minzoom: 14,
          symbolizer: new p.CircleSymbolizer({ radius: 2.5, fill: "#d97706", stroke: "#fff", width: 1 }) }
      ],
      labels: [
        { dataLayer: "roads", minzoom: 14, symbolizer: new p.LineLabelSymbolizer({
          labelProps: ["name"], fill: "#374151", stroke: "#fff", width: 2, font: "12px sans-serif" }) }
      ]
    };
  }

  // options.tiles: "base" (staff) or "streets" (anyone); options.maxDataZoom: the highest zoom of tiles to ask
  // for (the map draws closer views from it, so a phone with tiles up to 16 still zooms in offline).
  function addBase(map, options) {
    var p = window.protomapsL;
    var style = rules(p);
    p.leafletLayer({
      url: "/tiles/" + (options.tiles || "base") + "/{z}/{x}/{y}.mvt", maxDataZoom: options.maxDataZoom || 16,
      zIndex: 2,  // over the utility's basemap, whichever arrives first
      paintRules: style.paint, labelRules: style.labels, attribution: ""  // the credit line comes with the config
    }).addTo(map);
    var config = options.config ? Promise.resolve(options.config)
      : fetch("/maps/config.json").then(function (r) { return r.json(); });
    return config.then(function (c) {
      if (c.attribution) map.attributionControl.addAttribution(asText(c.attribution));
      var b = c.basemap || {};
      if (b.url && navigator.onLine !== false) {
        var under = { attribution: asText(b.attribution || ""), zIndex: 1 };
        (b.kind === "vector" ? p.leafletLayer(L.extend(under, { url: b.url, flavor: "light" }))
          : L.tileLayer(b.url, under)).addTo(map);
      }
      return c;
    }).catch(function () { return null; });  // offline: the network's own tiles are the whole map
  }

  window.FaultlineMap = { load: load, addBase: addBase };
})();
