// Poll the status API every second and update the page until the registration is final.
(function () {
  "use strict";
  var FINAL = ["done", "failed", "rejected"];
  var STEPS = ["pending", "queued", "processing", "done"];
  var root = document.getElementById("registration-status");
  if (!root) {
    return;
  }

  function field(name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  // The same states as registration.views.status_steps.
  function stepState(index, status) {
    if (status === "done") {
      return "complete";
    }
    var reached = STEPS.indexOf(status);
    var here = "current";
    if (reached === -1) {
      reached = STEPS.indexOf("processing");
      here = "failed";
    }
    return index < reached ? "complete" : index === reached ? here : "todo";
  }

  function renderSteps(status) {
    root.querySelectorAll("[data-step]").forEach(function (node) {
      var state = stepState(STEPS.indexOf(node.dataset.step), status);
      node.className = "step step-" + state;
      node.querySelector("[data-step-state]").textContent = " (" + state + ")";
      if (state === "current" || state === "failed") {
        node.setAttribute("aria-current", "step");
      } else {
        node.removeAttribute("aria-current");
      }
    });
    root.querySelectorAll("[data-outcome]").forEach(function (node) {
      node.hidden = node.dataset.outcome !== status;
    });
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
    renderSteps(data.status);
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
