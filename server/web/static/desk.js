// The desk refreshes itself: the server says when its figures change (server-sent
// events), the page then fetches itself again and swaps the live part.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var busy = false;
  function refresh() {
    if (busy) { return; }
    busy = true;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) {
          live.replaceWith(fresh);
          live = fresh;
          document.body.setAttribute("data-refreshed", fresh.getAttribute("data-generated"));
        }
      })
      .finally(function () { busy = false; });
  }
  var source = new EventSource("/dashboard/live");
  source.addEventListener("change", refresh);
  source.addEventListener("open", function () { document.body.setAttribute("data-live", "1"); });
})();
