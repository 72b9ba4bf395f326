// Runs in progress, without reloading: elapsed times tick every second, and a page whose <main>
// has data-live polls that URL (GET /api/live) every LIVE_MS; when its `key` changes, the page's
// <main> is fetched again and swapped in place (scroll position kept), then the event
// "himo:refreshed" is dispatched on document so page scripts can bind their new elements.
(function () {
  "use strict";
  var LIVE_MS = 2000;

  function since(text) {  // "2024-11-27 09:30:00" (UTC) -> milliseconds
    return Date.parse(text.replace(" ", "T") + "Z");
  }

  function duration(seconds) {  // as the server's `duration` filter: 0.4 s, 12 s, 3 min 5 s, 2 h 10 min
    if (seconds < 10) { return seconds.toFixed(1) + " s"; }
    if (seconds < 60) { return Math.round(seconds) + " s"; }
    var minutes = Math.floor(seconds / 60), secs = Math.floor(seconds % 60);
    return minutes < 60 ? minutes + " min " + secs + " s" : Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".elapsed[data-since]").forEach(function (el) {
      var start = since(el.getAttribute("data-since"));
      if (!isNaN(start)) { el.textContent = duration(Math.max(0, (now - start) / 1000)); }
    });
  }

  function swap() {
    return fetch(location.href, {headers: {"Accept": "text/html"}, cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        var main = document.querySelector("main");
        if (!fresh || !main) { return; }
        var x = window.scrollX, y = window.scrollY;
        main.replaceWith(document.adoptNode(fresh));
        window.scrollTo(x, y);
        tick();
        document.dispatchEvent(new CustomEvent("himo:refreshed"));
      });
  }

  function poll() {
    var main = document.querySelector("main[data-live]");
    if (!main) { return; }  // the page shows nothing in progress (any more)
    fetch(main.getAttribute("data-live"), {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (state) {
        if (state.key !== main.getAttribute("data-live-key")) { return swap(); }
      })
      .catch(function () { /* the server restarts or is gone: try again at the next poll */ })
      .then(function () { setTimeout(poll, LIVE_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    setTimeout(poll, LIVE_MS);
  });
}());
