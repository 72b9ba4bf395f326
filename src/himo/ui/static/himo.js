/* himo dashboard: the lineage and pipeline graphs (cytoscape) and the metrics charts (chart.js).
   Data comes from <script type="application/json"> blocks or the JSON API; never from innerHTML. */
"use strict";
var himo = (function () {
  var COLORS = {succeeded: "#2e9d4f", cached: "#6aa9d8", failed: "#d64541", aborted: "#a05a2c",
                running: "#e0a100", artifact: "#ffffff"};

  function style() {
    return [
      {selector: "node", style: {"label": "data(label)", "text-wrap": "wrap", "font-size": 11,
        "text-valign": "center", "text-halign": "center", "width": "label", "height": "label",
        "padding": "8px", "border-width": 1, "border-color": "#555", "background-color": "#fff"}},
      {selector: "node[type = 'execution']", style: {"shape": "round-rectangle",
        "background-color": function (n) { return COLORS[n.data("status")] || "#bbb"; }, "color": "#fff",
        "border-width": 0}},
      {selector: "node[type = 'artifact']", style: {"shape": "ellipse"}},
      {selector: "node[?released]", style: {"border-width": 3, "border-style": "double", "border-color": "#2e9d4f"}},
      {selector: "node[?root]", style: {"border-width": 3, "border-color": "#1f5fbf"}},
      {selector: "node[?stale]", style: {"background-color": "#f3c74b", "color": "#222"}},
      {selector: "edge", style: {"width": 1.5, "line-color": "#999", "target-arrow-color": "#999",
        "target-arrow-shape": "triangle", "curve-style": "bezier"}}
    ];
  }

  function graph(container, nodes, edges) {
    var cy = cytoscape({
      container: container, style: style(), wheelSensitivity: 0.3,
      elements: {nodes: nodes.map(function (n) { return {data: n}; }),
                 edges: edges.map(function (e) { return {data: e}; })},
      layout: {name: "breadthfirst", directed: true, spacingFactor: 1.1, padding: 20}
    });
    cy.on("tap", "node", function (evt) {
      var href = evt.target.data("href");
      if (href) { window.location.href = href; }
    });
    container.cy = cy;  // for tests and the console
    return cy;
  }

  function lineage(id, controlsId) {
    var box = document.getElementById(id), form = document.getElementById(controlsId);
    function load() {
      var q = new URLSearchParams({direction: form.direction.value, depth: form.depth.value});
      fetch("/api/lineage/" + encodeURIComponent(box.dataset.digest) + "?" + q, {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (g) {
          if (box.cy) { box.cy.destroy(); }
          if (g.error) { box.textContent = g.error; return; }
          graph(box, g.nodes, g.edges);
          box.dataset.ready = String(g.nodes.length);
        });
    }
    form.addEventListener("change", load);
    form.addEventListener("submit", function (e) { e.preventDefault(); load(); });
    load();
  }

  function pipeline(id, dataId) {
    var dag = JSON.parse(document.getElementById(dataId).textContent), box = document.getElementById(id);
    var nodes = dag.nodes.map(function (n) {
      return {id: "stage:" + n.name, label: n.name, type: "execution", stale: n.stale,
              status: n.latest ? n.latest.status : "none",
              href: n.latest ? "/executions/" + n.latest.id : null};
    });
    var edges = dag.edges.map(function (e) { return {source: "stage:" + e.from, target: "stage:" + e.to}; });
    graph(box, nodes, edges);
    box.dataset.ready = String(nodes.length);
  }

  function metrics(dataId) {
    var m = JSON.parse(document.getElementById(dataId).textContent);
    if (!m.key) { return; }
    var labels = m.columns.map(function (c) { return c.stage + " " + c.started_at; });
    var values = m.columns.map(function (c) { var v = c.values[m.key]; return typeof v === "number" ? v : null; });
    new Chart(document.getElementById("compare-chart"), {type: "bar",
      data: {labels: labels, datasets: [{label: m.key, data: values, backgroundColor: "#4a7fd4"}]},
      options: {animation: false, plugins: {legend: {display: false}}}});
    new Chart(document.getElementById("history-chart"), {type: "line",
      data: {labels: m.history.map(function (p) { return p.started_at; }),
             datasets: [{label: m.key, data: m.history.map(function (p) { return p.value; }),
                         borderColor: "#2e9d4f", tension: 0.1}]},
      options: {animation: false, plugins: {legend: {display: false}}}});
    document.body.dataset.charts = "ready";
  }

  return {lineage: lineage, pipeline: pipeline, metrics: metrics};
})();
