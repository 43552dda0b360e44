// maskwatch dashboard, live tiles: frames with their faces, zones, zoom. Own code, no libraries; app.js starts it.
"use strict";

// Live tiles (cameras page and wall): each online camera's latest frame with its faces, drawn as
// HTML labels in screen pixels so they stay legible in a small tile. Offline cameras are not asked
// for a frame: their tile says what is wrong (from the status poll). One request in flight a tile.
const FACE_LABEL_GAP = 2;

function placeLabels(layer) {
  // top to bottom: a label that would overlap one already placed goes under its box, else hides
  const placed = [];
  const overlaps = (r) => placed.some((p) => r.left < p.right && r.right > p.left && r.top < p.bottom && r.bottom > p.top);
  Array.from(layer.querySelectorAll(".face")).sort((a, b) => a.offsetTop - b.offsetTop).forEach((face) => {
    const lab = face.querySelector(".label");
    lab.classList.remove("below", "hidden");
    if (overlaps(lab.getBoundingClientRect())) {
      lab.classList.add("below");
      if (overlaps(lab.getBoundingClientRect())) { lab.classList.add("hidden"); return; }
    }
    const r = lab.getBoundingClientRect();
    placed.push({ left: r.left - FACE_LABEL_GAP, right: r.right + FACE_LABEL_GAP, top: r.top, bottom: r.bottom });
  });
}

function drawFaces(layer, data) {
  layer.replaceChildren();
  (data.faces || []).forEach((f) => {
    const [x1, y1, x2, y2] = f.box;
    const box = document.createElement("div");
    box.className = "face " + f.kind;
    box.style.left = (100 * x1 / data.width) + "%";
    box.style.top = (100 * y1 / data.height) + "%";
    box.style.width = (100 * (x2 - x1) / data.width) + "%";
    box.style.height = (100 * (y2 - y1) / data.height) + "%";
    const lab = document.createElement("span");
    lab.className = "label";
    lab.textContent = f.label;
    box.title = f.label;
    box.appendChild(lab);
    layer.appendChild(box);
  });
  placeLabels(layer);
}

async function refreshTile(tile) {
  if (tile.dataset.busy || !tile.dataset.online) return;
  tile.dataset.busy = "1";
  try {
    const resp = await fetch(tile.dataset.liveJson, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) { tile.classList.add("missing"); return; }
    const data = await resp.json();
    const img = tile.querySelector("img");
    await new Promise((done) => { img.onload = done; img.onerror = done; img.src = data.image; });
    tile.classList.remove("missing");
    if (tile.dataset.ratio !== String(data.width / data.height)) {
      // the tile takes the camera's shape, so that boxes in % of the frame land on the picture
      tile.dataset.ratio = String(data.width / data.height);
      tile.querySelector(".live").style.aspectRatio = data.width + " / " + data.height;
      fitZoom(tile);
    }
    drawFaces(tile.querySelector(".faces"), data);
    tile.dataset.frames = String(Number(tile.dataset.frames || 0) + 1);
  } catch (e) {
    tile.classList.add("missing");
  } finally {
    tile.dataset.busy = "";
  }
}

function fitZoom(tile) {
  // an enlarged tile: as large as the window allows, in the camera's shape
  const live = tile.querySelector(".live");
  if (!tile.classList.contains("zoom")) { live.style.width = live.style.height = ""; return; }
  const ratio = Number(tile.dataset.ratio || 16 / 9);
  const caption = tile.querySelector("figcaption");
  const w = Math.min(tile.clientWidth - 12, (tile.clientHeight - 12 - (caption ? caption.offsetHeight : 0)) * ratio);
  live.style.width = w + "px";
  live.style.height = (w / ratio) + "px";
}

const SVG_NS = "http://www.w3.org/2000/svg";

function drawZones(tile) {
  // the camera's mask-policy zones (config), over the picture
  const layer = tile.querySelector("svg.zones");
  if (!layer) return;
  let zones = [];
  try { zones = JSON.parse(tile.dataset.zones || "[]"); } catch (e) { zones = []; }
  layer.replaceChildren(...zones.map((z) => {
    const poly = document.createElementNS(SVG_NS, "polygon");
    poly.setAttribute("points", z.polygon.map(([x, y]) => x + "," + y).join(" "));
    poly.setAttribute("class", "zone");
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = "mask required: " + z.name;
    poly.appendChild(title);
    return poly;
  }));
}

// Draw a zone: click the picture at each corner; the polygon is shown as YAML to paste into the
// camera's policy.zones (the config stays the one place where policies live).
function initZoneTool() {
  document.querySelectorAll("[data-draw-zone]").forEach((button) => {
    const card = button.closest("[data-cam]"), tile = card.querySelector(".tile"), live = tile.querySelector(".live");
    const tool = button.parentElement, layer = tile.querySelector("svg.zones");
    const hint = tool.querySelector("[data-zone-hint]"), done = tool.querySelector("[data-zone-done]");
    const out = tool.querySelector("[data-zone-yaml]");
    let points = null, line = null;
    const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 100) / 100;  // 1 % of the frame
    const finish = () => {
      if (!points) return;
      if (points.length >= 3) {
        out.textContent = "- name: zone-1\n  polygon: [" + points.map(([x, y]) => "[" + x + ", " + y + "]").join(", ") + "]";
        out.hidden = false;
      }
      points = null; hint.hidden = done.hidden = true; button.hidden = false;
      live.classList.remove("drawing");
    };
    button.addEventListener("click", () => {
      points = []; out.hidden = true; hint.hidden = done.hidden = false; button.hidden = true;
      live.classList.add("drawing");
      line = document.createElementNS(SVG_NS, "polyline");
      line.setAttribute("class", "zone drawing");
      layer.appendChild(line);
    });
    done.addEventListener("click", finish);
    live.addEventListener("click", (e) => {
      if (!points) return;
      const r = live.getBoundingClientRect();
      points.push([round((e.clientX - r.left) / r.width), round((e.clientY - r.top) / r.height)]);
      line.setAttribute("points", points.map(([x, y]) => x + "," + y).join(" "));
    });
    document.addEventListener("keydown", (e) => { if (e.key === "Enter" && points) finish(); });
  });
}

function initTiles() {
  const tiles = Array.from(document.querySelectorAll("[data-live-json]"));
  tiles.forEach(drawZones);
  if (!tiles.length) return;
  const tick = () => { if (!document.hidden) tiles.forEach(refreshTile); };
  tick();
  setInterval(tick, 1000);
  tiles.forEach((tile) => {
    if (!tile.hasAttribute("data-zoomable")) return;
    const toggle = () => {
      const on = !tile.classList.contains("zoom");
      document.querySelectorAll(".tile.zoom").forEach((t) => t.classList.remove("zoom"));
      tile.classList.toggle("zoom", on);
      tile.setAttribute("aria-expanded", on ? "true" : "false");
      document.querySelectorAll("[data-zoomable]").forEach(fitZoom);
      requestAnimationFrame(() => placeLabels(tile.querySelector(".faces")));
    };
    tile.addEventListener("click", toggle);
    tile.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    document.querySelectorAll(".tile.zoom").forEach((t) => { t.classList.remove("zoom"); t.setAttribute("aria-expanded", "false"); fitZoom(t); });
  });
  window.addEventListener("resize", () => document.querySelectorAll(".tile.zoom").forEach(fitZoom));
}
