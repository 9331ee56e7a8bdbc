// While a re-score runs, the diff refreshes itself in place (no page reload, no lost scroll position).
(() => {
  function schedule() {
    const pending = document.querySelector("#rescore-diff [data-refresh]");
    if (!pending) return;
    setTimeout(async () => {
      try {
        const response = await fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
        if (response.ok) {
          const html = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = html.getElementById("rescore-diff");
          if (fresh) document.getElementById("rescore-diff").innerHTML = fresh.innerHTML;
        }
      } catch (error) { /* offline for a moment: try again */ }
      schedule();
    }, Number(pending.dataset.refresh) || 3000);
  }
  document.addEventListener("DOMContentLoaded", schedule);
})();
