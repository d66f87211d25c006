// Muster console: small progressive enhancements. Every page reads without this file; nothing here builds HTML
// from data (textContent only), so agent-sent text can never become markup.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // "Select all" checkboxes of bulk tables.
  for (const all of document.querySelectorAll("input.select-all")) {
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll(`input[name="ids"][form="${all.getAttribute("form")}"]`)) {
        box.checked = all.checked;
      }
    });
  }

  // Confirmation before destructive actions.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // Copy buttons next to secrets shown once.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Select and copy";
      }
    });
  }

  // Filter selects apply at once.
  for (const select of document.querySelectorAll("form.filters select")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }

  // Advisory upload with a progress bar, through the API (session cookie + CSRF header).
  const upload = document.getElementById("advisory-upload");
  if (upload) {
    upload.addEventListener("submit", (event) => {
      event.preventDefault();
      const file = upload.querySelector("input[type=file]").files[0];
      if (!file) return;
      const bar = upload.querySelector("progress");
      const status = upload.querySelector("output");
      const button = upload.querySelector("button");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/advisories?name=" + encodeURIComponent(file.name));
      xhr.setRequestHeader("X-CSRF-Token", upload.dataset.csrf);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      bar.hidden = false;
      bar.value = 0;
      button.disabled = true;
      status.textContent = "Uploading…";
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
      });
      xhr.upload.addEventListener("load", () => { status.textContent = "Uploaded; importing and matching…"; });
      xhr.addEventListener("load", () => {
        button.disabled = false;
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status === 200 && body && typeof body.records_read === "number") {
          const errors = (body.errors || []).length + (body.record_errors || []).length;
          const hosts = body.rematch ? body.rematch.hosts_rematched : 0;
          status.textContent = `Imported: ${body.records_read} records read, ${body.imported} new, ` +
            `${body.updated} updated, ${body.unchanged} unchanged, ${errors} errors; ${hosts} hosts re-matched. ` +
            "Reloading…";
          window.setTimeout(() => window.location.reload(), 1500);
        } else {
          status.textContent = "Import failed: " + (body && body.message ? body.message : `HTTP ${xhr.status}`);
        }
      });
      xhr.addEventListener("error", () => {
        button.disabled = false;
        status.textContent = "Upload failed: the connection was lost.";
      });
      xhr.send(file);
    });
  }
});
