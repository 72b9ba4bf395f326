// Draws every plot spec of the page (<script type="application/json" class="plot-spec">) with
// vega-embed. `ast: true`: Vega interprets its expressions instead of compiling them with
// Function(), so the pages' Content-Security-Policy needs no 'unsafe-eval'. A run page that
// live.js refreshes gets its plots as the run writes them: they are drawn on "himo:refreshed".
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("script.plot-spec").forEach(function (el) {
      var target = document.getElementById(el.dataset.target);
      if (!target || target.dataset.drawn) { return; }
      target.dataset.drawn = "1";
      vegaEmbed(target, JSON.parse(el.textContent), {ast: true, actions: false, renderer: "svg"})
        .catch(function (err) {
          target.textContent = "Cannot draw this plot: " + err.message;
          target.classList.add("plot-error");
        });
    });
  }
  draw();
  document.addEventListener("himo:refreshed", draw);
})();
