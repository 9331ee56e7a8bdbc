// Charts drawn in the browser from the JSON API with the vendored Chart.js (static/vendor, no CDN).
// Each chart marks its canvas with data-rendered="1" once drawn (the browser tests wait for it).
(function () {
  if (!window.Chart) return;
  var PALETTE = ["#2456c9", "#e07b39", "#2e9e5b", "#b83280", "#6f42c1", "#8a6d3b", "#1f9bb5", "#c0392b"];
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  Chart.defaults.animation = false;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
  }
  function done(canvas, chart) { dataTable(canvas, chart); canvas.dataset.rendered = "1"; canvas.chart = chart; }
  // The text alternative of a chart: its numbers as a table, in a <details> right after the canvas.
  function dataTable(canvas, chart) {
    var box = canvas.closest("section") || canvas.parentNode;
    var heading = box.querySelector("h2, h3");
    var title = heading ? heading.textContent.trim() : "Chart";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", title + " (the numbers are in the table below the chart)");
    var old = box.querySelector("details.chart-data[data-for='" + canvas.id + "']");
    if (old) old.remove();
    var details = document.createElement("details");
    details.className = "chart-data"; details.dataset.for = canvas.id;
    var summary = document.createElement("summary"); summary.textContent = "The numbers behind this chart";
    var wrap = document.createElement("div"); wrap.className = "table-scroll";
    var table = document.createElement("table"); table.className = "compact";
    var caption = document.createElement("caption"); caption.textContent = title; table.appendChild(caption);
    var head = table.createTHead().insertRow();
    var corner = document.createElement("th"); corner.scope = "col"; corner.textContent = ""; head.appendChild(corner);
    chart.data.datasets.forEach(function (d) {
      var th = document.createElement("th"); th.scope = "col"; th.textContent = d.label; head.appendChild(th);
    });
    var body = table.createTBody();
    chart.data.labels.forEach(function (label, i) {
      var row = body.insertRow();
      var th = document.createElement("th"); th.scope = "row"; th.textContent = label; row.appendChild(th);
      chart.data.datasets.forEach(function (d) {
        var v = d.data[i], cell = row.insertCell();
        cell.className = "num";
        cell.textContent = (v === null || v === undefined) ? "–" : (typeof v === "number" ? v.toFixed(2) : String(v));
      });
    });
    wrap.appendChild(table); details.appendChild(summary); details.appendChild(wrap);
    canvas.insertAdjacentElement("afterend", details);
  }
  function empty(canvas, text) {
    var p = document.createElement("p");
    p.className = "muted"; p.textContent = text;
    canvas.replaceWith(p);
  }

  // Error bars: a dataset's `errorBars` ([low, high] per bar, or null) drawn over its bars.
  var errorBars = {
    id: "errorBars",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx, y = chart.scales.y;
      chart.data.datasets.forEach(function (dataset, i) {
        if (!dataset.errorBars || !chart.isDatasetVisible(i)) return;
        chart.getDatasetMeta(i).data.forEach(function (bar, j) {
          var bounds = dataset.errorBars[j];
          if (!bounds) return;
          var top = y.getPixelForValue(bounds[1]), bottom = y.getPixelForValue(bounds[0]);
          var half = Math.min(6, (bar.width || 12) / 3);
          ctx.save(); ctx.strokeStyle = "#222"; ctx.lineWidth = 1.2; ctx.beginPath();
          ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
          ctx.moveTo(bar.x - half, top); ctx.lineTo(bar.x + half, top);
          ctx.moveTo(bar.x - half, bottom); ctx.lineTo(bar.x + half, bottom);
          ctx.stroke(); ctx.restore();
        });
      });
    }
  };

  // The rank bins of every dataset in rank order. Each dataset's bins end at its number of videos
  // ("501-670" for 670 videos), top-k lists add "beyond top-k"; histograms stored earlier end in ">1000".
  function binOrder(label) {
    var k = /^beyond top-(\d+)/.exec(label);
    if (k) return [1e15 + Number(k[1]), 0];
    var n = label.replace(">", "").split("-").map(Number);
    return label.charAt(0) === ">" ? [n[0] + 1, 1e14] : [n[0], n[n.length - 1]];
  }
  function rankBins(datasets) {
    var seen = {}, labels = [];
    datasets.forEach(function (d) { d.rank_histogram.labels.forEach(function (l) { if (!seen[l]) { seen[l] = 1; labels.push(l); } }); });
    return labels.sort(function (a, b) { var x = binOrder(a), y = binOrder(b); return x[0] - y[0] || x[1] - y[1]; });
  }

  // Submission page: R@1/R@5/R@10 per dataset, and the t2v rank histogram of every dataset.
  var box = document.querySelector("[data-charts]");
  if (box) {
    getJSON(box.dataset.charts).then(function (data) {
      var recall = document.getElementById("recall-chart"), ranks = document.getElementById("rank-chart");
      if (!data.visible || !data.datasets.length) { empty(recall, "No results to chart."); empty(ranks, ""); return; }
      var names = data.datasets.map(function (d) { return d.dataset; });
      var withBars = data.datasets.some(function (d) { return d.intervals; });
      done(recall, new Chart(recall, {
        type: "bar",
        data: { labels: names, datasets: ["R1", "R5", "R10"].map(function (k, i) {
          return { label: k.replace("R", "R@"), backgroundColor: PALETTE[i],
                   data: data.datasets.map(function (d) { return d[k]; }),
                   errorBars: withBars ? data.datasets.map(function (d) { return d.intervals && d.intervals[k]; }) : null };
        }) },
        plugins: [errorBars],
        options: { scales: { y: { beginAtZero: true, max: 100,
                                  title: { display: true, text: withBars ? "% (bars: confidence interval)" : "%" } } } }
      }));
      var withHist = data.datasets.filter(function (d) { return d.rank_histogram; });
      if (!withHist.length) { empty(ranks, "No rank histogram stored (scored before it existed)."); return; }
      var bins = rankBins(withHist);
      done(ranks, new Chart(ranks, {
        type: "bar",
        data: { labels: bins, datasets: withHist.map(function (d, i) {
          var h = d.rank_histogram, total = h.counts.reduce(function (a, b) { return a + b; }, 0) || 1;
          return { label: d.dataset, backgroundColor: PALETTE[i % PALETTE.length],
                   data: bins.map(function (label) {  // null: the dataset has no such bin (a smaller gallery)
                     var j = h.labels.indexOf(label); return j < 0 ? null : 100 * h.counts[j] / total; }) };
        }) },
        options: { scales: { x: { title: { display: true, text: "rank of the correct video" } },
                             y: { beginAtZero: true, title: { display: true, text: "% of queries" } } } }
      }));
    });
  }

  // Phase leaderboard: the best overall score over time.
  var history = document.getElementById("history-chart");
  if (history) {
    getJSON(history.dataset.api).then(function (data) {
      if (!data.points.length) { empty(history, "No scored public submission yet."); return; }
      done(history, new Chart(history, {
        type: "line",
        data: { labels: data.points.map(function (p) { return p.at.slice(0, 16).replace("T", " "); }),
                datasets: [{ label: "leading counted score", stepped: true, borderColor: PALETTE[0],
                             backgroundColor: PALETTE[0], data: data.points.map(function (p) { return p.score; }) }] },
        options: { plugins: { tooltip: { callbacks: { afterLabel: function (ctx) {
          var p = data.points[ctx.dataIndex]; return p.team + " · " + p.method_name; },
          label: function (ctx) { return data.points[ctx.dataIndex].display; } } } } }
      }));
    });
  }

  // Phase leaderboard: the top entries compared dataset by dataset.
  var compare = document.getElementById("compare-chart");
  if (compare) {
    getJSON(compare.dataset.api).then(function (data) {
      var top = data.entries.filter(function (e) { return e.rank; }).slice(0, 5);
      if (!top.length) { empty(compare, "No ranked entry yet."); return; }
      done(compare, new Chart(compare, {
        type: "bar",
        data: { labels: data.datasets, datasets: top.map(function (e, i) {
          return { label: "#" + e.rank + " " + e.team, backgroundColor: PALETTE[i % PALETTE.length],
                   data: data.datasets.map(function (d) { return e.scores[d]; }) };
        }) },
        options: { scales: { y: { beginAtZero: true, title: { display: true, text: "score" } } } }
      }));
    });
  }
})();
