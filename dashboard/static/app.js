// maskwatch dashboard: the few behaviours that need a script. Own code, no libraries; live.js and
// watch.js (loaded first) hold the live tiles and the new-violation watch.
"use strict";

// Bulk review: "select all" and a live count of the selected rows.
function initBulk() {
  const form = document.getElementById("bulk");
  if (!form) return;
  const boxes = () => Array.from(form.querySelectorAll('input[name="ids"]'));
  const count = form.querySelector("[data-selected]");
  const update = () => { if (count) count.textContent = boxes().filter((b) => b.checked).length; };
  const all = form.querySelector("[data-select-all]");
  if (all) all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); update(); });
  form.addEventListener("change", update);
}

function ago(epoch) {
  if (!epoch) return "never";
  const s = Math.max(0, Date.now() / 1000 - epoch);
  return s < 120 ? Math.round(s) + " s ago" : s < 7200 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
}

// Camera status: refresh the numbers from /api/cameras every few seconds.
function initPoll() {
  const root = document.querySelector("[data-poll]");
  if (!root) return;
  const fixed = { fps_read: 1, fps_processed: 1 };
  const refresh = async () => {
    if (document.hidden) return;
    let data;
    try {
      const resp = await fetch(root.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      data = await resp.json();
    } catch (e) { return; }
    (data.cameras || []).forEach((cam) => {
      const card = root.querySelector('[data-cam="' + CSS.escape(cam.id) + '"]');
      if (!card) return;
      card.dataset.online = cam.online ? "1" : "";
      card.classList.toggle("offline", !cam.online);
      card.querySelectorAll("[data-field]").forEach((el) => {
        const f = el.dataset.field;
        if (f === "state") {
          el.textContent = cam.online ? "online" : cam.state;
          el.className = "badge " + (cam.online ? "online" : "offline");
        } else if (f === "last_frame_at") {
          el.textContent = ago(cam.last_frame_at);
        } else if (f === "lag_s") {
          el.textContent = cam.lag_s === null ? "–" : Number(cam.lag_s).toFixed(1) + " s";
        } else if (f === "problem") {
          el.textContent = cam.problem || "";
          el.classList.toggle("err", !!cam.problem);
        } else if (f === "last_error") {
          el.textContent = cam.last_error || "–";
          el.className = cam.last_error ? "err" : "muted";
        } else if (f in cam) {
          const v = cam[f];
          el.textContent = f in fixed ? Number(v).toFixed(1) : (v === "" || v === null ? "–" : v);
        }
      });
    });
  };
  setInterval(refresh, 3000);
}

// "Test connection" on the cameras' admin page: asked in the background, so the form keeps what was
// typed (the page the server would send back instead never shows a URL again).
function initCameraTest() {
  const button = document.querySelector("form.camera-form button[name=test]");
  if (!button) return;
  const form = button.form;
  button.addEventListener("click", async (ev) => {
    ev.preventDefault();
    let out = document.querySelector(".tested");
    if (!out) { out = document.createElement("div"); form.after(out); }
    out.className = "tested";
    out.textContent = "Connecting...";
    let result;
    try {
      const resp = await fetch(button.getAttribute("formaction"), {
        method: "POST", body: new FormData(form), headers: { Accept: "application/json" }, credentials: "same-origin" });
      result = await resp.json();
    } catch (e) {
      result = { ok: false, reason: "the dashboard did not answer" };
    }
    out.className = "tested " + (result.ok ? "ok" : "err");
    out.textContent = "";
    const p = document.createElement("p");
    p.textContent = result.ok ? "Connected: its first frame." : "Could not connect: " + result.reason;
    out.append(p);
    if (result.ok) {
      const img = document.createElement("img");
      img.className = "test-frame";
      img.alt = "the camera's first frame";
      img.src = result.image;
      out.append(img);
    }
  });
}

// Forms that undo a site's setup (removing a camera) ask first.
function initConfirm() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (ev) => { if (!window.confirm(form.dataset.confirm)) ev.preventDefault(); });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  initBulk(); initTiles(); initZoneTool(); initPoll(); initWatch(); initCameraTest(); initConfirm();
});
