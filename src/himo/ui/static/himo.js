/* himo dashboard: the lineage and pipeline graphs (cytoscape, laid out left to right by dagre through
   cytoscape-dagre) and the metrics charts (chart.js).
   Data comes from <script type="application/json"> blocks or the JSON API; never from innerHTML. */
"use strict";
var himo = (function () {
  var COLORS = {succeeded: "#2e9d4f", cached: "#6aa9d8", failed: "#d64541", aborted: "#a05a2c",
                running: "#e0a100", artifact: "#ffffff"};
  var STALE = "#f0a500";  // amber: the border of a stage `himo repro` would run
  var MIN_FIT_ZOOM = 0.75;  // below this labels are hard to read: zoom in on the root instead of fitting all
  var MAX_FIT_ZOOM = 1.4;
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  var FONT_SIZE = 13, FONT = "Helvetica Neue, Helvetica, sans-serif", measure = null;

  function labelSize(node) {  // the box of a node's label (cytoscape's width "label" is deprecated)
    var cached = node.scratch("_himoSize");
    if (cached) { return cached; }
    if (!measure) { measure = document.createElement("canvas").getContext("2d"); }
    var weight = node.data("type") === "execution" ? "600 " : "";
    measure.font = weight + FONT_SIZE + "px " + FONT;
    var lines = String(node.data("label") || "").split("\n");
    var width = Math.max.apply(null, lines.map(function (l) { return measure.measureText(l).width; }));
    var size = {width: Math.ceil(width) + 2, height: Math.ceil(lines.length * FONT_SIZE * 1.25)};
    node.scratch("_himoSize", size);
    return size;
  }

  function style() {
    return [
      {selector: "node", style: {"label": "data(label)", "text-wrap": "wrap", "font-size": FONT_SIZE,
        "font-family": FONT, "text-valign": "center", "text-halign": "center",
        "width": function (n) { return labelSize(n).width; }, "height": function (n) { return labelSize(n).height; },
        "padding": "9px", "border-width": 1, "border-color": "#555", "background-color": "#fff"}},
      {selector: "node[type = 'execution']", style: {"shape": "round-rectangle",
        "background-color": function (n) { return COLORS[n.data("status")] || "#bbb"; }, "color": "#fff",
        "border-width": 0, "font-weight": 600}},
      {selector: "node[type = 'artifact']", style: {"shape": "round-rectangle", "corner-radius": 14}},
      {selector: "node[?released]", style: {"border-width": 3, "border-style": "double", "border-color": "#2e9d4f"}},
      {selector: "node[?root]", style: {"border-width": 3, "border-color": "#1f5fbf"}},
      {selector: "node[?stale]", style: {"border-width": 5, "border-color": STALE, "border-style": "solid"}},
      {selector: "edge", style: {"width": 1.5, "line-color": "#8a94a6", "target-arrow-color": "#8a94a6",
        "target-arrow-shape": "triangle", "arrow-scale": 1.2, "curve-style": "bezier"}}
    ];
  }

  function graph(container, nodes, edges, focus) {
    var cy = cytoscape({
      container: container, style: style(), minZoom: 0.2, maxZoom: 3,
      elements: {nodes: nodes.map(function (n) { return {data: n}; }),
                 edges: edges.map(function (e) { return {data: e}; })},
      layout: {name: "dagre", rankDir: "LR", nodeSep: 18, rankSep: 60, edgeSep: 12, padding: 20,
               useDagreEdgeControlPoints: true, automaticDagreEdgeStyle: true}
    });
    if (cy.zoom() < MIN_FIT_ZOOM) {  // a big graph: readable labels around the focus; drag or zoom out for the rest
      cy.zoom(MIN_FIT_ZOOM);
      cy.center(focus ? cy.getElementById(focus) : cy.nodes());
    } else if (cy.zoom() > MAX_FIT_ZOOM) {  // a small graph: not blown up to fill the box
      cy.zoom(MAX_FIT_ZOOM);
      cy.center();
    }
    cy.on("tap", "node", function (evt) {
      var href = evt.target.data("href");
      if (href) { window.location.href = href; }
    });
    container.cy = cy;  // for tests and the console
    return cy;
  }

  function latestOnly(g) {  // drop superseded versions, then executions left with no output shown
    var gone = {};
    g.nodes.forEach(function (n) { if (n.type === "artifact" && n.superseded && n.id !== g.root) { gone[n.id] = true; } });
    var shownOut = {};
    g.edges.forEach(function (e) { if (!gone[e.target]) { shownOut[e.source] = true; } });
    g.nodes.forEach(function (n) { if (n.type === "execution" && !shownOut[n.id]) { gone[n.id] = true; } });
    return {nodes: g.nodes.filter(function (n) { return !gone[n.id]; }),
            edges: g.edges.filter(function (e) { return !gone[e.source] && !gone[e.target]; })};
  }

  function lineage(id, controlsId) {  // direction, depth and "latest only" live in the page's URL
    var box = document.getElementById(id), form = document.getElementById(controlsId),
        message = document.getElementById(id + "-message"), start = null;
    var url = new URLSearchParams(window.location.search);
    if (url.get("direction")) { form.direction.value = url.get("direction"); }
    if (url.get("depth")) { form.depth.value = url.get("depth"); }
    form.latest.checked = url.get("latest") === "1";
    function remember() {
      var q = new URLSearchParams(window.location.search);
      q.set("direction", form.direction.value);
      q.set("depth", form.depth.value);
      if (form.latest.checked) { q.set("latest", "1"); } else { q.delete("latest"); }
      history.replaceState(null, "", window.location.pathname + "?" + q + window.location.hash);
    }
    function load() {
      var direction = url.get("direction") || form.direction.value, depth = url.get("depth") || form.depth.value;
      url = new URLSearchParams();  // the URL's values once, on the first load; the form's afterwards
      var q = new URLSearchParams({direction: direction, depth: depth});
      fetch("/api/lineage/" + encodeURIComponent(box.dataset.digest) + "?" + q, {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (g) {
          if (box.cy) { box.cy.destroy(); box.cy = null; }
          message.hidden = !g.error;
          if (g.error) {
            message.textContent = g.error + (g.hint ? ". " + g.hint : "");
            box.dataset.ready = "error";
            return;
          }
          var shown = form.latest.checked ? latestOnly(g) : g;
          var cy = graph(box, shown.nodes, shown.edges, g.root);
          start = {zoom: cy.zoom(), pan: Object.assign({}, cy.pan())};
          box.dataset.ready = String(shown.nodes.length);
        });
    }
    form.addEventListener("change", function () { url = new URLSearchParams(); remember(); load(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); remember(); load(); });
    form.querySelector("[name=fit]").addEventListener("click", function () {
      if (box.cy) { box.cy.fit(undefined, 20); box.dataset.view = "fit"; }
    });
    form.querySelector("[name=reset]").addEventListener("click", function () {
      if (box.cy && start) { box.cy.viewport({zoom: start.zoom, pan: start.pan}); box.dataset.view = "reset"; }
    });
    if (message.hidden) { load(); }  // else the server said what is wrong with the URL's choice
    else { box.dataset.ready = "error"; }
  }

  function pipeline(id, dataId) {
    var dag = JSON.parse(document.getElementById(dataId).textContent), box = document.getElementById(id);
    var nodes = dag.nodes.map(function (n) {
      return {id: "stage:" + n.name, label: n.name, type: "execution", stale: n.stale,
              status: n.latest ? n.latest.status : "none",
              href: n.latest ? "/executions/" + n.latest.id : null};
    });
    var edges = dag.edges.map(function (e) { return {source: "stage:" + e.from, target: "stage:" + e.to}; });
    graph(box, nodes, edges, null);
    box.dataset.ready = String(nodes.length);
  }

  function when(text) {  // "2024-11-27 09:30:00" (UTC) -> milliseconds
    return Date.parse(text.replace(" ", "T") + "Z");
  }

  function dayTime(ms, seconds) {  // milliseconds -> "27 Nov 09:30" (UTC, as every time on the pages)
    var d = new Date(ms), two = function (n) { return String(n).padStart(2, "0"); };
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + two(d.getUTCHours()) + ":" +
      two(d.getUTCMinutes()) + (seconds ? ":" + two(d.getUTCSeconds()) : "");
  }

  function metrics(dataId) {
    var m = JSON.parse(document.getElementById(dataId).textContent);
    if (!m.key) { return; }
    var times = m.history.map(function (p) { return when(p.started_at); });
    var close = times.length > 1 && times[times.length - 1] - times[0] < 3600 * 1000;  // within an hour: seconds
    var labels = m.columns.map(function (c) { return [c.stage, dayTime(when(c.started_at), close)]; });
    var values = m.columns.map(function (c) { var v = c.values[m.key]; return typeof v === "number" ? v : null; });
    new Chart(document.getElementById("compare-chart"), {type: "bar",
      data: {labels: labels, datasets: [{label: m.key, data: values, backgroundColor: "#4a7fd4"}]},
      options: {animation: false, plugins: {legend: {display: false}}}});
    var points = m.history.map(function (p, i) { return {x: times[i], y: p.value}; });
    new Chart(document.getElementById("history-chart"), {type: "line",
      data: {datasets: [{label: m.key, data: points, borderColor: "#2e9d4f", tension: 0.1}]},
      options: {animation: false, plugins: {legend: {display: false},
                  tooltip: {callbacks: {title: function (items) { return dayTime(items[0].parsed.x, true); }}}},
                scales: {x: {type: "linear", ticks: {maxTicksLimit: 8, maxRotation: 0,
                  callback: function (v) { return dayTime(v, close); }}}}}});
    document.body.dataset.charts = "ready";
  }

  function sortRows(table, th, col, asc) {  // the rows shown, by that column; empty numbers last
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells), body = table.tBodies[0];
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    var value = function (row) {
      var v = row.cells[col].dataset.value;
      return th.dataset.sort === "number" ? (v === "" || v === undefined ? NaN : Number(v)) : (v || "");
    };
    rows.sort(function (a, b) {
      var x = value(a), y = value(b);
      if (th.dataset.sort === "number") {  // empty cells last, whichever the direction
        if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); }
        return asc ? x - y : y - x;
      }
      return asc ? x.localeCompare(y, undefined, {numeric: true}) : y.localeCompare(x, undefined, {numeric: true});
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function headKey(th) { return th.dataset.key || th.textContent.trim(); }

  // click a header with data-sort: sort the rows shown by that column. `state` (optional) keeps the
  // sort, so a table swapped in by live.js is sorted as it was (sortable(newTable, state)).
  function sortable(table, state) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    state = state || {};
    heads.forEach(function (th, col) {
      if (!th.dataset.sort) { return; }
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        state.sort = {key: headKey(th), asc: asc};
        sortRows(table, th, col, asc);
      });
      if (state.sort && state.sort.key === headKey(th)) { sortRows(table, th, col, state.sort.asc); }
    });
  }

  // The runs page. live.js swaps its content in while runs are in progress: what the user did (open
  // foreach groups, the sort, ticked runs) is kept in `state` and applied to the new elements.
  function runs(gridId, tableId, formId) {
    var state = {open: {}, ticked: {}, sort: null};
    bindRuns(gridId, tableId, formId, state);
    document.addEventListener("himo:refreshed", function () { bindRuns(gridId, tableId, formId, state); });
  }

  // A foreach group's member rows are not in the page (most of a busy month's grid): the first
  // opening loads them, rendered by the server for the page's days (/grid/members), under its row.
  function openGroup(grid, button, open) {
    var row = button.closest("tr"), name = row.dataset.group;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "▾" : "▸";
    function show() {
      var shown = button.getAttribute("aria-expanded") === "true";
      grid.querySelectorAll("tr.member").forEach(function (member) {
        if (member.dataset.memberOf === name) { member.hidden = !shown; }
      });
    }
    if (row.dataset.members || !open) { show(); return; }
    row.dataset.members = "loading";
    fetch("/grid/members?" + new URLSearchParams({group: name, today: grid.dataset.today}), {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) { row.insertAdjacentHTML("afterend", html); row.dataset.members = "loaded"; show(); })
      .catch(function () {  // closed again: the next opening tries again
        delete row.dataset.members;
        button.setAttribute("aria-expanded", "false");
        button.textContent = "▸";
      });
  }

  function bindRuns(gridId, tableId, formId, state) {
    var grid = document.getElementById(gridId), table = document.getElementById(tableId);
    if (grid) {
      grid.querySelectorAll("tr.group button.toggle").forEach(function (button) {
        var name = button.closest("tr").dataset.group;
        if (state.open[name]) { openGroup(grid, button, true); }
        button.addEventListener("click", function () {
          state.open[name] = button.getAttribute("aria-expanded") !== "true";
          openGroup(grid, button, state.open[name]);
        });
      });
    }
    if (!table) { return; }
    sortable(table, state);
    var form = document.getElementById(formId), button = form.querySelector("#compare-button"),
        note = form.querySelector("#ticked");
    form.querySelectorAll("input[name=run]").forEach(function (box) {
      if (state.ticked[box.value]) { box.checked = true; }
    });
    function update() {
      var n = form.querySelectorAll("input[name=run]:checked").length;
      button.disabled = n < 2;
      note.textContent = n < 2 ? "tick two or more runs" : n + " runs ticked";
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "run") { state.ticked[event.target.value] = event.target.checked; }
      update();
    });
    update();
  }

  var PALETTE = ["#4a7fd4", "#2e9d4f", "#d64541", "#e0a100", "#8e5cc4", "#1aa5a5", "#a05a2c", "#5b6475"];

  function isNumber(v) { return typeof v === "number" && isFinite(v); }

  function around(values) {  // an axis range that shows differences: not from 0 when 0 would hide them
    var nums = values.filter(isNumber);
    if (!nums.length) { return {}; }
    var lo = Math.min.apply(null, nums), hi = Math.max.apply(null, nums), pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.05 || 1;
    return {min: lo - pad, max: hi + pad};
  }

  function compare(dataId) {
    var c = JSON.parse(document.getElementById(dataId).textContent), cols = c.columns;
    var labels = cols.map(function (col) { return col.label; });
    document.querySelectorAll("#metric-charts canvas").forEach(function (canvas) {
      var key = canvas.dataset.key, values = cols.map(function (col) {
        var v = col.metrics[key]; return isNumber(v) ? v : null; });
      var range = around(values);
      canvas.chart = new Chart(canvas, {type: "line",
        data: {labels: labels, datasets: [{label: key, data: values, showLine: false, pointRadius: 6,
          pointBackgroundColor: cols.map(function (col) { return col.baseline ? "#1d2330" : "#4a7fd4"; })}]},
        options: {animation: false, plugins: {legend: {display: false}},
                  scales: {y: {beginAtZero: false, min: range.min, max: range.max}}}});
    });
    scatter(c);
    parallel(c);
    var form = document.getElementById("scatter-controls");
    if (form) { form.addEventListener("change", function () { scatter(c); }); }
    document.body.dataset.charts = "ready";
  }

  function paramOf(key) {  // a column's value of a param; "@": its member's name (a number if it reads as one)
    return function (col) {
      if (key !== "@") { return col.params[key]; }
      var n = Number(col.member);
      return col.member === null || col.member === "" || isNaN(n) ? col.member : n;
    };
  }

  function isValue(v) { return isNumber(v) || (typeof v === "string" && v !== ""); }

  function categories(values) {  // the distinct non-numeric values of an axis, in order of appearance
    return values.filter(function (v, i) { return isValue(v) && values.indexOf(v) === i; }).map(String);
  }

  function scatter(c) {
    var canvas = document.getElementById("scatter-chart"), form = document.getElementById("scatter-controls");
    if (!canvas || !form) { return; }
    var metric = form.metric.value, param = form.param.value, get = paramOf(param);
    var cols = c.columns.filter(function (col) { return isNumber(col.metrics[metric]) && isValue(get(col)); });
    var xs = cols.map(get), numeric = xs.every(isNumber), labels = numeric ? [] : categories(xs);
    var points = cols.map(function (col, i) {
      return {x: numeric ? xs[i] : String(xs[i]), y: col.metrics[metric], label: col.label}; });
    if (canvas.chart) { canvas.chart.destroy(); }
    var name = param === "@" ? "member" : param;
    var xr = numeric ? around(xs) : {}, yr = around(points.map(function (p) { return p.y; }));
    var x = numeric ? {type: "linear", min: xr.min, max: xr.max} : {type: "category", labels: labels, offset: true};
    x.title = {display: true, text: name};
    canvas.chart = new Chart(canvas, {type: "scatter",
      data: {datasets: [{label: metric + " vs " + name, data: points, pointRadius: 6, backgroundColor: "#4a7fd4"}]},
      options: {animation: false, plugins: {legend: {display: false}, tooltip: {callbacks: {
                  label: function (item) { return item.raw.label + ": " + name + " " + item.raw.x + ", " + item.raw.y; }}}},
                scales: {x: x, y: {min: yr.min, max: yr.max, title: {display: true, text: metric}}}}});
    canvas.dataset.points = String(points.length);
  }

  function axis(key, get, cols) {  // numbers scaled to their range; text values spread evenly, in order seen
    var values = cols.map(get), numeric = values.filter(isValue).every(isNumber);
    if (numeric) {
      var r = around(values);
      return {key: key, get: get, scale: function (v) { return isNumber(v) ? (v - r.min) / (r.max - r.min) : null; }};
    }
    var seen = categories(values), step = 1 / (seen.length + 1);
    return {key: key, get: get, scale: function (v) { return isValue(v) ? (seen.indexOf(String(v)) + 1) * step : null; }};
  }

  function parallel(c) {  // one line per compared execution across the differing params and the charted metrics
    var canvas = document.getElementById("parallel-chart");
    if (!canvas) { return; }
    var axes = c.params.filter(function (k) {
      return c.columns.some(function (col) { return isValue(col.params[k]); }); })
      .map(function (k) { return axis(k, paramOf(k), c.columns); })
      .concat(c.chosen.map(function (k) { return axis(k, function (col) { return col.metrics[k]; }, c.columns); }));
    var datasets = c.columns.map(function (col, i) {
      return {label: col.label, borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length],
        raw: axes.map(function (a) { return a.get(col); }),
        data: axes.map(function (a) { return a.scale(a.get(col)); })};
    });
    canvas.chart = new Chart(canvas, {type: "line",
      data: {labels: axes.map(function (a) { return a.key; }), datasets: datasets},
      options: {animation: false, spanGaps: false,
                plugins: {tooltip: {callbacks: {label: function (item) {
                  return item.dataset.label + ": " + item.dataset.raw[item.dataIndex]; }}}},
                scales: {y: {min: 0, max: 1, ticks: {display: false}}}}});
    canvas.dataset.axes = String(axes.length);
    canvas.dataset.lines = String(datasets.length);
  }

  return {lineage: lineage, pipeline: pipeline, metrics: metrics, runs: runs, sortable: sortable, compare: compare};
})();
