// Draws every plot spec of the page (<script type="application/json" class="plot-spec">) with
// vega-embed. `ast: true`: Vega interprets its expressions instead of compiling them with
// Function(), so the pages' Content-Security-Policy needs no 'unsafe-eval'.
(function () {
  "use strict";
  document.querySelectorAll("script.plot-spec").forEach(function (el) {
    var target = document.getElementById(el.dataset.target);
    var spec = JSON.parse(el.textContent);
    vegaEmbed(target, spec, {ast: true, actions: false, renderer: "svg"}).catch(function (err) {
      target.textContent = "Cannot draw this plot: " + err.message;
      target.classList.add("plot-error");
    });
  });
})();
