// Keep the robot control panel live: re-fetch the server-rendered panel every 2 s and swap it in, and count
// the next cycle's countdown down every second in between. Without this script the page is complete, not live.
// The admin loads it in <head>, so it starts once the page is parsed.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var root = document.getElementById("robot-panel");
  if (!root) {
    return;
  }
  var renderedAt = Date.now();

  function tick() {
    var elapsed = (Date.now() - renderedAt) / 1000;
    root.querySelectorAll("[data-countdown]").forEach(function (node) {
      var left = Math.round(parseFloat(node.dataset.countdown) - elapsed);
      node.textContent = left >= 1 ? "in " + left + " s" : "due now";
    });
  }

  function poll() {
    if (document.hidden) {
      window.setTimeout(poll, 2000);
      return;
    }
    fetch(root.dataset.panelUrl, { headers: { Accept: "text/html" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        // Not while a button is being pressed: the swap would drop the click.
        if (html !== null && !root.contains(document.activeElement)) {
          root.innerHTML = html;
          renderedAt = Date.now();
        }
      })
      .catch(function () {
        // A missed poll (network blip, server restart) is retried on the next one.
      })
      .then(function () {
        window.setTimeout(poll, 2000);
      });
  }

  window.setInterval(tick, 1000);
  window.setTimeout(poll, 2000);
});
