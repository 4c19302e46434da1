// The prompt page's preview: each [data-preview] column asks its version to answer the
// sample question and shows the answer as it streams (JSON lines: {"delta"}, then
// {"done"} or {"error"}). The text is shown as text, never as HTML.
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function show(column, event) {
    var text = column.querySelector("[data-part=text]");
    var status = column.querySelector("[data-part=status]");
    if (event.delta !== undefined) {
      text.textContent += event.delta;
      status.textContent = "Answering…";
    } else if (event.error !== undefined) {
      status.textContent = event.code ? "Failed (" + event.code + "): " + event.error : event.error;
      status.dataset.state = "error";
      column.dataset.state = "error";
    } else if (event.done) {
      var by = event.answered_by === "model" ? event.provider + " · " + event.model : event.answered_by;
      status.textContent = "Answered by " + by + " in " + event.ms + " ms.";
      column.dataset.state = "done";
    }
  }

  async function run(column) {
    var body = new URLSearchParams({ question: column.dataset.question });
    var status = column.querySelector("[data-part=status]");
    try {
      var response = await fetch(column.dataset.url, {
        method: "POST",
        body: body,
        headers: { "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      });
      if (!response.ok) {
        var problem = await response.json().catch(function () { return {}; });
        show(column, { error: problem.error || "The preview failed (HTTP " + response.status + ")." });
        return;
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffered = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffered += decoder.decode(chunk.value, { stream: true });
        var lines = buffered.split("\n");
        buffered = lines.pop();
        lines.filter(Boolean).forEach(function (line) { show(column, JSON.parse(line)); });
      }
      if (column.dataset.state === undefined) {
        show(column, { error: "The preview ended before the answer did." });
      }
    } catch (error) {
      status.textContent = "The preview could not be loaded: " + error.message;
      status.dataset.state = "error";
      column.dataset.state = "error";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-preview]").forEach(run);
  });

  // Enter in the sample question previews (elsewhere it saves the draft, the form's
  // first button).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !event.target.matches("input[name=question]")) return;
    var preview = document.querySelector("input[name=_preview]");
    if (preview) {
      event.preventDefault();
      preview.click();
    }
  });
})();
