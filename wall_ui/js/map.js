// An offline map: cameras drawn by latitude/longitude on a plain canvas (equirectangular,
// with a graticule), coloured by health, alarmed cameras ringed. No tile server needed.
// A trajectory (a search's cameras in time order) is drawn over it: numbered stops joined
// by arrows, its camera ids in the canvas's data-trajectory attribute.
const COLORS = {
  online: "#2fbf71", degraded: "#f0b429", offline: "#e5484d", connecting: "#3e8ed0",
  disabled: "#5c6370", unknown: "#7a7f8a",
};

export class CameraMap {
  constructor(canvas, tip, catalog, onPick) {
    this.canvas = canvas;
    this.tip = tip;
    this.catalog = catalog;
    this.onPick = onPick;
    this.alarmed = new Set();
    this.points = [];
    this.trajectory = [];
    catalog.addEventListener("change", () => this.draw());
    catalog.addEventListener("health", () => this.draw());
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement);
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    canvas.addEventListener("click", (e) => {
      const hit = this.hit(e);
      if (hit) this.onPick(hit.id);
    });
  }

  markAlarm(cameraId) {
    this.alarmed.add(cameraId);
    this.draw();
  }

  clearAlarm(cameraId) {
    this.alarmed.delete(cameraId);
    this.draw();
  }

  // Camera ids in time order (repeats allowed: a car passing the same junction twice).
  setTrajectory(cameraIds) {
    this.trajectory = [...cameraIds];
    this.canvas.dataset.trajectory = this.trajectory.join(",");
    this.draw();
  }

  bounds(cameras) {
    let [s, n, w, e] = [90, -90, 180, -180];
    for (const c of cameras) {
      s = Math.min(s, c.location.lat);
      n = Math.max(n, c.location.lat);
      w = Math.min(w, c.location.lon);
      e = Math.max(e, c.location.lon);
    }
    const padLat = Math.max((n - s) * 0.08, 0.002);
    const padLon = Math.max((e - w) * 0.08, 0.002);
    return { s: s - padLat, n: n + padLat, w: w - padLon, e: e + padLon };
  }

  draw() {
    const canvas = this.canvas;
    const rect = canvas.parentElement.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = rect.width * ratio;
    canvas.height = rect.height * ratio;
    canvas.style.width = `${rect.width}px`;
    canvas.style.height = `${rect.height}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#0d1117";
    ctx.fillRect(0, 0, rect.width, rect.height);
    const cameras = this.catalog.cameras;
    if (!cameras.length) return;
    const b = this.bounds(cameras);
    // Keep the aspect of the ground: a degree of longitude shrinks with cos(latitude).
    const midLat = ((b.s + b.n) / 2) * (Math.PI / 180);
    const spanX = (b.e - b.w) * Math.cos(midLat);
    const spanY = b.n - b.s;
    const scale = Math.min(rect.width / spanX, rect.height / spanY);
    const ox = (rect.width - spanX * scale) / 2;
    const oy = (rect.height - spanY * scale) / 2;
    const x = (lon) => ox + (lon - b.w) * Math.cos(midLat) * scale;
    const y = (lat) => oy + (b.n - lat) * scale;
    ctx.strokeStyle = "#1f2733";
    ctx.fillStyle = "#4a5568";
    ctx.font = "11px system-ui";
    const step = niceStep(spanY / 6);
    for (let lat = Math.ceil(b.s / step) * step; lat <= b.n; lat += step) {
      ctx.beginPath(); ctx.moveTo(0, y(lat)); ctx.lineTo(rect.width, y(lat)); ctx.stroke();
      ctx.fillText(lat.toFixed(3), 4, y(lat) - 2);
    }
    for (let lon = Math.ceil(b.w / step) * step; lon <= b.e; lon += step) {
      ctx.beginPath(); ctx.moveTo(x(lon), 0); ctx.lineTo(x(lon), rect.height); ctx.stroke();
      ctx.fillText(lon.toFixed(3), x(lon) + 2, rect.height - 4);
    }
    const r = cameras.length > 2000 ? 2 : 5;
    this.points = [];
    for (const c of cameras) {
      const px = x(c.location.lon);
      const py = y(c.location.lat);
      this.points.push({ x: px, y: py, camera: c });
      ctx.fillStyle = COLORS[c.health.state] || COLORS.unknown;
      ctx.beginPath(); ctx.arc(px, py, r, 0, Math.PI * 2); ctx.fill();
      if (cameras.length <= 200) {
        ctx.fillStyle = "#aab3c0";
        ctx.fillText(c.name, px + r + 3, py + 4);
      }
      if (this.alarmed.has(c.id)) {
        ctx.strokeStyle = "#ff3b3b"; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.arc(px, py, r + 6, 0, Math.PI * 2); ctx.stroke();
        ctx.lineWidth = 1; ctx.strokeStyle = "#1f2733";
      }
    }
    this.drawTrajectory(ctx, x, y);
  }

  drawTrajectory(ctx, x, y) {
    const stops = [];
    for (const id of this.trajectory) {
      const c = this.catalog.byId.get(id);
      // A camera outside the loaded catalog (removed since) has no place on the map.
      if (c) stops.push({ x: x(c.location.lon), y: y(c.location.lat) });
    }
    if (!stops.length) return;
    ctx.save();
    ctx.strokeStyle = "#ffb020"; ctx.fillStyle = "#ffb020"; ctx.lineWidth = 2.5;
    for (let i = 1; i < stops.length; i += 1) {
      const a = stops[i - 1];
      const b = stops[i];
      if (a.x === b.x && a.y === b.y) continue;
      ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
      arrowHead(ctx, a, b);
    }
    // Numbered stops; a camera seen again gets its later numbers beside the first.
    const labels = new Map();
    stops.forEach((p, i) => {
      const key = `${p.x},${p.y}`;
      labels.set(key, [...(labels.get(key) || []), i + 1]);
    });
    ctx.font = "bold 12px system-ui";
    for (const [key, numbers] of labels) {
      const [px, py] = key.split(",").map(Number);
      ctx.fillStyle = "#ffb020";
      ctx.beginPath(); ctx.arc(px, py, 10, 0, Math.PI * 2); ctx.fill();
      ctx.fillStyle = "#11151c";
      ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText(String(numbers[0]), px, py + 0.5);
      if (numbers.length > 1) {
        ctx.fillStyle = "#ffb020"; ctx.textAlign = "left";
        ctx.fillText(numbers.slice(1).join(", "), px + 13, py - 12);
      }
    }
    ctx.restore();
  }

  hit(event) {
    const rect = this.canvas.getBoundingClientRect();
    const mx = event.clientX - rect.left;
    const my = event.clientY - rect.top;
    let best = null;
    let bestD = 100;
    for (const p of this.points) {
      const d = (p.x - mx) ** 2 + (p.y - my) ** 2;
      if (d < bestD) { best = p.camera; bestD = d; }
    }
    return best;
  }

  hover(event) {
    const c = this.hit(event);
    this.tip.hidden = !c;
    if (!c) return;
    this.tip.textContent = `${c.name} · ${c.health.state}${c.location.address ? ` · ${c.location.address}` : ""}`;
    const rect = this.canvas.getBoundingClientRect();
    this.tip.style.left = `${event.clientX - rect.left + 12}px`;
    this.tip.style.top = `${event.clientY - rect.top + 12}px`;
  }
}

// An arrow at the middle of the segment a→b, pointing at b.
function arrowHead(ctx, a, b) {
  const angle = Math.atan2(b.y - a.y, b.x - a.x);
  const mx = (a.x + b.x) / 2;
  const my = (a.y + b.y) / 2;
  ctx.beginPath();
  ctx.moveTo(mx + 7 * Math.cos(angle), my + 7 * Math.sin(angle));
  ctx.lineTo(mx + 7 * Math.cos(angle + 2.5), my + 7 * Math.sin(angle + 2.5));
  ctx.lineTo(mx + 7 * Math.cos(angle - 2.5), my + 7 * Math.sin(angle - 2.5));
  ctx.closePath(); ctx.fill();
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw || 1e-3));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
