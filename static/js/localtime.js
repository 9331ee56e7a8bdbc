// Each <time data-local-time> shows the visitor's own zone first, the server's UTC beside it.
(function () {
  "use strict";
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when.getTime()) || el.dataset.localised) return;
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
    var local = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate()) + " " +
      pad(when.getHours()) + ":" + pad(when.getMinutes());
    el.title = el.textContent;
    el.textContent = local + " " + zone + " (" + el.textContent + ")";
    el.dataset.localised = "1";
  });
})();
