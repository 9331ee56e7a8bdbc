// Live status: poll the API for every submission on the page that is not in a final state.
(function () {
  var FINAL = ["finished", "failed", "cancelled"];
  function poll(el) {
    fetch(el.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        var status = el.querySelector("[data-role=status]"), progress = el.querySelector("[data-role=progress]");
        status.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1);
        status.className = "status status-" + data.status;
        if (progress) {
          var p = data.progress || {};
          progress.textContent = data.status === "running" && p.stage
            ? p.stage + " (" + Math.round(100 * (p.fraction || 0)) + "%)" : "";
        }
        var datasets = (data.progress || {}).datasets || {};
        el.querySelectorAll("[data-dataset]").forEach(function (row) {
          var pct = Math.round(100 * (datasets[row.dataset.dataset] || 0));
          var bar = row.querySelector(".bar"), label = row.querySelector(".label");
          if (bar) bar.style.width = pct + "%";
          if (label) label.textContent = pct + "%";
        });
        if (FINAL.indexOf(data.status) >= 0) {
          if (el.dataset.reload) window.location.reload();
          return;
        }
        setTimeout(function () { poll(el); }, 2000);
      })
      .catch(function () { setTimeout(function () { poll(el); }, 5000); });
  }
  document.querySelectorAll("[data-submission]").forEach(function (el) {
    if (el.dataset.final !== "1") poll(el);
  });
})();
