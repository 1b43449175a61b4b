// What every page for the public does: install the customers' service worker (their pages open with no
// signal), and switch the language as soon as one is picked (a button does it without JavaScript).
// No inline script anywhere: the Content-Security-Policy allows scripts from our own files only.
(function () {
  "use strict";
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js");
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-submit-on-change]")) event.target.form.submit();
  });
})();
