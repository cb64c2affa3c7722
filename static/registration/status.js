// Poll the status API every second and update the page until the registration is final.
(function () {
  "use strict";
  var FINAL = ["done", "failed", "rejected"];
  var root = document.getElementById("registration-status");
  if (!root) {
    return;
  }

  function field(name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function render(data) {
    var status = field("status");
    status.textContent = data.status;
    status.className = "status status-" + data.status;
    field("job_id").textContent = data.job_id || "not queued yet";
    field("reason").textContent = data.reason;
    root.querySelectorAll("[data-reason]").forEach(function (node) {
      node.hidden = !data.reason;
    });
    root.dataset.status = data.status;
  }

  function poll() {
    fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data) {
          render(data);
        }
      })
      .catch(function () {
        // A missed poll (network blip, server restart) is retried on the next tick.
      })
      .then(function () {
        if (FINAL.indexOf(root.dataset.status) === -1) {
          window.setTimeout(poll, 1000);
        }
      });
  }

  if (FINAL.indexOf(root.dataset.status) === -1) {
    window.setTimeout(poll, 1000);
  }
})();
