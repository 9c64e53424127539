// The map pin of the public complaint form: an enhancement of its coordinates input ("LAT,LON").
// Without JavaScript, or without Leaflet, the map stays hidden and the input is typed. Tiles come
// from OpenStreetMap at run time; a click on the map works even when they cannot be loaded.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  function parse(text) {
    var parts = (text || "").split(",");
    if (parts.length !== 2) return null;
    var lat = parseFloat(parts[0]), lon = parseFloat(parts[1]);
    if (isNaN(lat) || isNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180) return null;
    return [lat, lon];
  }
  ready(function () {
    var box = document.querySelector("[data-peta]");
    if (!box || !window.L) return;
    var input = document.getElementById(box.getAttribute("data-input"));
    if (!input) return;
    box.hidden = false;
    var center = parse(box.getAttribute("data-center")) || [0, 0];
    var zoom = parseInt(box.getAttribute("data-zoom"), 10) || 11;
    var start = parse(input.value);
    var map = L.map(box.querySelector(".peta"), {center: start || center, zoom: start ? 15 : zoom});
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">Kontributor OpenStreetMap</a>'
    }).addTo(map);
    var marker = null;
    function place(latlng, write) {
      if (marker) marker.setLatLng(latlng); else marker = L.marker(latlng).addTo(map);
      if (write) {
        input.value = latlng[0].toFixed(6) + "," + latlng[1].toFixed(6);
        input.dispatchEvent(new Event("change", {bubbles: true}));
      }
    }
    if (start) place(start, false);
    map.on("click", function (event) { place([event.latlng.lat, event.latlng.lng], true); });
    input.addEventListener("change", function () {
      var typed = parse(input.value);
      if (typed && (!marker || marker.getLatLng().lat !== typed[0] || marker.getLatLng().lng !== typed[1])) {
        place(typed, false);
        map.setView(typed, Math.max(map.getZoom(), 15));
      }
    });
    var mine = box.querySelector("[data-lokasi-saya]");
    if (mine && navigator.geolocation) {
      mine.hidden = false;
      mine.addEventListener("click", function () {
        navigator.geolocation.getCurrentPosition(function (found) {
          var here = [found.coords.latitude, found.coords.longitude];
          place(here, true);
          map.setView(here, 16);
        });
      });
    }
  });
})();
