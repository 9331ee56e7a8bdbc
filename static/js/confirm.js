// Forms with data-confirm="question" ask before they act (publishing, rotating, leaving, removing).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);
