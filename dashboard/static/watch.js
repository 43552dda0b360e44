// maskwatch dashboard, the list's watch for new violations, with tone and notification. Own code, no libraries; app.js starts it.
"use strict";

// New violations: poll the API for rows written since this page was drawn. A fixed banner says how
// many and links to them; it floats over the page, so no row moves under the operator's mouse.
// Optional, remembered per browser: a short tone and a desktop notification.
const WATCH_MS = 5000;
const PREFS = "maskwatch.alerts.";

function beep() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  beep.ctx = beep.ctx || new Ctx();
  const ctx = beep.ctx, osc = ctx.createOscillator(), gain = ctx.createGain();
  osc.frequency.value = 880;
  gain.gain.value = 0.12;
  osc.connect(gain);
  gain.connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.2);
}

function initAlertPrefs() {
  const prefs = { sound: false, notify: false };
  document.querySelectorAll("[data-alert]").forEach((box) => {
    const kind = box.dataset.alert;
    prefs[kind] = box.checked = localStorage.getItem(PREFS + kind) === "1";
    box.addEventListener("change", async () => {
      if (kind === "notify" && box.checked && "Notification" in window && Notification.permission !== "granted") {
        box.checked = (await Notification.requestPermission()) === "granted";
      }
      if (kind === "sound" && box.checked) beep();  // the click lets the page play sound from now on
      prefs[kind] = box.checked;
      localStorage.setItem(PREFS + kind, box.checked ? "1" : "0");
    });
  });
  return prefs;
}

function alertNew(prefs, data, link) {
  const body = document.body;
  if (prefs.sound) { beep(); body.dataset.sounded = String(Number(body.dataset.sounded || 0) + 1); }
  if (prefs.notify && "Notification" in window && Notification.permission === "granted") {
    const where = Array.from(new Set((data.items || []).map((v) => v.camera_name))).join(", ");
    const note = new Notification(data.count + " new violation" + (data.count === 1 ? "" : "s"), { body: where, tag: "maskwatch-new" });
    note.onclick = () => { window.focus(); location.href = link; };
    body.dataset.notified = String(Number(body.dataset.notified || 0) + 1);
  }
}

function initWatch() {
  const bar = document.querySelector("[data-watch]");
  if (!bar) return;
  const count = bar.querySelector("[data-new-count]"), noun = bar.querySelector("[data-new-noun]");
  const link = bar.querySelector("[data-new-link]").href;
  const title = document.title;
  const prefs = initAlertPrefs();
  let since = bar.dataset.since, total = 0;
  const poll = async () => {
    const url = bar.dataset.watch + (bar.dataset.watch.includes("?") ? "&" : "?") + "since=" + encodeURIComponent(since);
    let data;
    try {
      const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      data = await resp.json();
    } catch (e) { return; }
    if (!data.count) return;
    since = data.latest;
    total += data.count;
    count.textContent = total;
    noun.textContent = total === 1 ? "violation" : "violations";
    document.title = "(" + total + ") " + title;
    bar.hidden = false;
    alertNew(prefs, data, link);
  };
  setInterval(poll, Number(bar.dataset.every || WATCH_MS));
}
