// When htmx gets an answer it does not swap in (a refusal, too many reports, a photo too large, a server
// error) or no answer at all (no signal), say so next to what was sent, in the page's language. Nothing is
// swapped out, so what the person typed stays on the page for another try.
(function () {
  "use strict";
  function box(elt) {
    var form = (elt.closest && elt.closest("form")) || elt;
    var before = form.previousElementSibling;
    return { form: form, shown: before && before.hasAttribute("data-request-problem") ? before : null };
  }

  function show(elt, text) {
    var found = box(elt);
    var shown = found.shown;
    if (!shown) {
      shown = document.createElement("p");
      shown.className = "error";
      shown.setAttribute("role", "alert");
      shown.setAttribute("data-request-problem", "");
      found.form.parentNode.insertBefore(shown, found.form);
    }
    shown.textContent = text;
  }

  document.addEventListener("htmx:responseError", function (event) {
    // Error pages carry their sentence, already translated, in main's alert.
    var page = new DOMParser().parseFromString(event.detail.xhr.responseText || "", "text/html");
    var said = page.querySelector("main [role=alert]");
    show(event.detail.elt, (said && said.textContent.trim()) || document.body.dataset.msgRequestFailed);
  });
  document.addEventListener("htmx:sendError", function (event) {
    show(event.detail.elt, document.body.dataset.msgNoSignal);
  });
  document.addEventListener("htmx:beforeRequest", function (event) {  // a new try: the old news goes
    var shown = box(event.detail.elt).shown;
    if (shown) shown.remove();
  });
})();
