// Each <time data-local-time> shows the visitor's own zone first, the server's UTC beside it.
// In running text: "2026-12-06 04:00 Europe/Paris (2026-12-06 03:00 UTC)". In a table cell
// (data-local-time="cell"): "2026-12-06 04:00 CET (03:00 UTC)", each part kept from wrapping.
(function () {
  "use strict";
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var shortZone = function (when) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(when);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") return parts[i].value;
      }
    } catch (e) { /* an old browser: the long name below */ }
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  };
  var nowrap = function (text) {
    var span = document.createElement("span");
    span.className = "nowrap";
    span.textContent = text;
    return span;
  };
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when.getTime()) || el.dataset.localised) return;
    var day = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate());
    var clock = pad(when.getHours()) + ":" + pad(when.getMinutes());
    var utc = el.textContent.replace(/\s+/g, " ").trim();
    el.title = utc;
    if (el.getAttribute("data-local-time") === "cell") {
      var utcClock = utc.split(" ").slice(1).join(" ");  // "03:00 UTC" (or with seconds)
      el.textContent = "";
      el.appendChild(nowrap(day));
      el.appendChild(document.createTextNode(" "));
      el.appendChild(nowrap(clock + " " + shortZone(when)));
      el.appendChild(document.createTextNode(" "));
      el.appendChild(nowrap("(" + utcClock + ")"));
    } else {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
      el.textContent = day + " " + clock + " " + zone + " (" + utc + ")";
    }
    el.dataset.localised = "1";
  });
})();
