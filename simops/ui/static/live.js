// Live updates: each element with a data-live URL is replaced, every LIVE_MS, by the fragment
// the server renders at that URL. The server escapes every value; this script never builds
// HTML from data. Without JavaScript the page is whole as served: reload it to update.
(function () {
  "use strict";
  var LIVE_MS = 1500;
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  var status = document.getElementById("live-status");

  function refresh(region) {
    return fetch(region.getAttribute("data-live"), {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    }).then(function (html) {
      region.innerHTML = html;
    });
  }

  function tick() {
    Promise.all(regions.map(refresh)).then(function () {
      status.textContent = "live · updated " + new Date().toISOString().slice(11, 19) + " UTC";
    }, function (error) {
      // Keep the last figures on screen and try again: the server may be restarting.
      status.textContent = "live updates interrupted (" + error.message + "), retrying";
    }).then(function () {
      window.setTimeout(tick, LIVE_MS);
    });
  }

  if (regions.length && status) {
    window.setTimeout(tick, LIVE_MS);
  }
})();
