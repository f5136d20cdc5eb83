// carechain portal: the little the pages need beyond HTML. Loaded from this server only
// (the Content-Security-Policy allows no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A form that sends a transaction says so while it works, and cannot be sent twice.
  for (const form of document.querySelectorAll("form[data-busy]")) {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      const status = document.createElement("p");
      status.className = "busy";
      status.setAttribute("role", "status");
      status.textContent = form.dataset.busy;
      form.append(status);
      for (const button of form.querySelectorAll("button")) button.setAttribute("aria-disabled", "true");
    });
  }
  // "Go back" on an error page returns to the page the form was on.
  for (const link of document.querySelectorAll("a[data-back]")) {
    if (window.history.length > 1) {
      link.addEventListener("click", (event) => { event.preventDefault(); window.history.back(); });
    }
  }
});
