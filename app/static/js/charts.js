/* Draws every .chargeops-chart on the page with chart.js.
 * The data sits in a <script type="application/json" class="chart-data"> block inside the element:
 * either FAB's Google-shaped table {cols: [{label}], rows: [{c: [{v}]}]} or {labels: [], datasets: [{label, data}]}.
 * data-chart-type: ColumnChart | BarChart | LineChart | PieChart (FAB's names) or a chart.js type. */
(function () {
  "use strict";
  var TYPES = { ColumnChart: "bar", BarChart: "bar", LineChart: "line", PieChart: "pie", AreaChart: "line" };
  var COLOURS = ["#337ab7", "#d9534f", "#5cb85c", "#f0ad4e", "#5bc0de", "#777777", "#9b59b6", "#1abc9c"];

  function fromGoogleTable(table) {
    var labels = table.rows.map(function (row) { return row.c[0].v; });
    var datasets = table.cols.slice(1).map(function (col, i) {
      return { label: col.label, data: table.rows.map(function (row) { return Number(row.c[i + 1].v) || 0; }) };
    });
    return { labels: labels, datasets: datasets };
  }

  function draw(element) {
    if (element.dataset.drawn) { return; }
    var block = element.querySelector("script.chart-data");
    var raw = JSON.parse(block.textContent);
    var data = raw.cols ? fromGoogleTable(raw) : raw;
    var kind = element.dataset.chartType || "bar";
    var type = TYPES[kind] || kind;
    data.datasets.forEach(function (set, i) {
      var colour = COLOURS[i % COLOURS.length];
      if (type === "pie") { set.backgroundColor = data.labels.map(function (_, j) { return COLOURS[j % COLOURS.length]; }); }
      else { set.backgroundColor = colour; set.borderColor = colour; }
    });
    new window.Chart(element.querySelector("canvas"), {
      type: type,
      data: data,
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: kind === "BarChart" ? "y" : "x",
        plugins: { title: { display: !!element.dataset.chartTitle, text: element.dataset.chartTitle } }
      }
    });
    element.dataset.drawn = "1";
  }

  function drawAll() { document.querySelectorAll(".chargeops-chart").forEach(draw); }
  window.ChargeOpsCharts = { drawAll: drawAll };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", drawAll); } else { drawAll(); }
})();
