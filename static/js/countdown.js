// Live countdowns: <time datetime="ISO" data-countdown> reads "in 3 d 4 h (2026-06-01 23:59 UTC)".
(() => {
  const units = [["d", 86400], ["h", 3600], ["min", 60]];
  function describe(seconds) {
    if (seconds <= 0) return "now";
    if (seconds < 60) return "in under a minute";
    const parts = [];
    for (const [name, size] of units) {
      const count = Math.floor(seconds / size);
      if (count > 0 || parts.length) { parts.push(`${count} ${name}`); seconds -= count * size; }
      if (parts.length === 2) break;
    }
    return `in ${parts.join(" ")}`;
  }
  function update() {
    for (const el of document.querySelectorAll("time[data-countdown]")) {
      if (!el.dataset.absolute) el.dataset.absolute = el.textContent.trim();
      const seconds = (Date.parse(el.getAttribute("datetime")) - Date.now()) / 1000;
      el.textContent = `${describe(seconds)} (${el.dataset.absolute})`;
    }
  }
  document.addEventListener("DOMContentLoaded", () => { update(); setInterval(update, 30000); });
})();
