// The Search tab (investigators): where a plate, a watchlist person or the face in a photo
// was seen. Results are a time-ordered list and the trajectory on an offline map; clicking
// a result puts its camera on the wall. A result with a snapshot shows it as a thumbnail,
// fetched with the caller's token (each view audited by the API) and kept as a blob URL
// until the next render. Each result's "▶ footage" opens the recorded video of its camera at
// the time it was seen (js/playback.js), a mark on the timeline where it was.
import { api, apiJson } from "./api.js";
import { openPlayback } from "./playback.js";

const DAY_S = 86400;
// A hit's footage plays from a little before it was first seen.
const HIT_LEAD_S = 3;
// Roles the API lets search (command_api.auth.roles.SEARCHERS).
export const SEARCH_ROLES = ["investigator", "administrator"];

// A Unix time as the value of a datetime-local input (local time, minutes).
function toLocalInput(t) {
  const d = new Date(t * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(value) {
  return new Date(value).getTime() / 1000;
}

// Local time as "2026-11-25 12:02:50": sortable, and short enough for the list.
function formatTime(t) {
  return toLocalInput(t).replace("T", " ") + `:${String(new Date(t * 1000).getSeconds()).padStart(2, "0")}`;
}

export class SearchPanel {
  // `els`: {form, kind, text, photo, start, end, status, results, more}; `map` a CameraMap.
  constructor(els, catalog, map, onPick) {
    this.els = els;
    this.catalog = catalog;
    this.map = map;
    this.onPick = onPick;
    this.hits = []; // [{sighting, distance?}] in time order
    this.thumbUrls = []; // blob URLs of the thumbnails shown, revoked at the next render
    this.exportParams = null; // the last plate/person search, for its CSV export
    els.export.addEventListener("click", () => this.exportCsv());
    this.nextStart = null;
    this.resetRange();
    els.kind.addEventListener("change", () => this.showKind());
    els.cls.addEventListener("change", () => this.showKind()); // trousers: people only
    els.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.run();
    });
    els.more.addEventListener("click", () => this.run(this.nextStart));
    this.showKind();
  }

  resetRange(now = Date.now() / 1000) {
    this.els.start.value = toLocalInput(now - DAY_S);
    this.els.end.value = toLocalInput(now + 60); // the minute in progress included
  }

  showKind() {
    const photo = this.els.kind.value === "photo";
    const looks = this.els.kind.value === "looks";
    this.els.text.hidden = photo || looks;
    this.els.text.required = !photo && !looks;
    this.els.looks.hidden = !looks;
    this.els.lower.hidden = this.els.cls.value !== "person";
    this.els.photo.hidden = !photo;
    this.els.photo.required = photo;
    this.els.text.placeholder = this.els.kind.value === "plate" ? "皖S·12345" : "person id";
    this.els.fuzzyLabel.hidden = this.els.kind.value !== "plate"; // OCR misreadings: plates only
  }

  // `from` (Unix time) continues a face search the API stopped before the range's end.
  async run(from = null) {
    const kind = this.els.kind.value;
    const start = from ?? fromLocalInput(this.els.start.value);
    const end = fromLocalInput(this.els.end.value);
    this.els.status.textContent = "Searching…";
    this.els.status.classList.remove("error");
    this.els.more.hidden = true;
    try {
      let hits;
      let note = "";
      this.nextStart = null;
      if (kind === "photo") {
        const form = new FormData();
        form.append("photo", this.els.photo.files[0]);
        form.append("start", String(start));
        form.append("end", String(end));
        form.append("case", this.els.case.value.trim());
        const body = await (await api("/api/sightings/face", { method: "POST", body: form })).json();
        hits = body.hits;
        if (!body.complete) {
          this.nextStart = body.next_start;
          note = ` · searched up to ${formatTime(body.next_start)} (${body.scanned} faces)`;
        }
        if (body.capped) note += " · only the nearest matches are listed";
      } else {
        const params = new URLSearchParams({ start, end, case: this.els.case.value.trim() });
        if (kind === "looks") {
          const cls = this.els.cls.value;
          params.set("class", cls);
          params.set(cls === "person" ? "upper_color" : "color", this.els.color.value);
          if (cls === "person" && this.els.lower.value) params.set("lower_color", this.els.lower.value);
        } else {
          params.set(kind, this.els.text.value.trim());
        }
        if (kind === "plate" && this.els.fuzzy.checked) params.set("fuzzy", "true");
        const found = await apiJson(`/api/sightings?${params}`);
        this.exportParams = params;
        hits = found.map((sighting) => ({ sighting }));
      }
      // A continued search appends; the boundary's sightings may come twice.
      const seen = new Set(from === null ? [] : this.hits.map((h) => h.sighting.sighting_id));
      this.hits = [...(from === null ? [] : this.hits),
        ...hits.filter((h) => !seen.has(h.sighting.sighting_id))];
      this.els.status.textContent = `${this.hits.length} sightings${note}`;
      this.els.more.hidden = this.nextStart === null;
      this.els.export.hidden = kind === "photo" || this.hits.length === 0;
    } catch (error) {
      this.hits = from === null ? [] : this.hits;
      this.els.status.textContent = error.message;
      this.els.status.classList.add("error");
    }
    this.render();
  }

  // The same search as a CSV file (the API audits the export), saved by the browser.
  async exportCsv() {
    if (!this.exportParams) return;
    const params = new URLSearchParams(this.exportParams);
    params.set("format", "csv");
    try {
      const response = await api(`/api/sightings?${params}`);
      const disposition = response.headers.get("Content-Disposition") || "";
      const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "sightings.csv";
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      this.els.status.textContent = error.message;
    }
  }

  thumbnail(ref) {
    const cell = document.createElement("span");
    cell.className = "thumb";
    if (!ref) return cell;
    const img = document.createElement("img");
    img.alt = "snapshot";
    cell.append(img);
    const path = ref.split("/").map(encodeURIComponent).join("/");
    api(`/api/evidence/${path}`)
      .then((response) => response.blob())
      .then((blob) => {
        const url = URL.createObjectURL(blob);
        this.thumbUrls.push(url);
        img.src = url;
      })
      .catch(() => img.remove()); // gone with retention, or not ours to see: no picture
    return cell;
  }

  // One click to the recorded video of where and when the hit was seen.
  footageButton(s, name) {
    const button = document.createElement("button");
    button.className = "footage";
    button.type = "button";
    button.textContent = "▶ footage";
    button.title = "The recorded video of this camera at the time of this sighting";
    button.addEventListener("click", (e) => {
      e.stopPropagation(); // not the row's "show on the wall"
      openPlayback(s.camera_id, {
        title: name,
        at: s.first_seen,
        before: HIT_LEAD_S,
        mark: `${s.plate || s.class_name} seen`,
      });
    });
    button.addEventListener("keydown", (e) => e.stopPropagation()); // Enter: this button
    return button;
  }

  render() {
    for (const url of this.thumbUrls) URL.revokeObjectURL(url);
    this.thumbUrls = [];
    const rows = this.hits.map((hit, i) => {
      const s = hit.sighting;
      const camera = this.catalog.byId.get(s.camera_id);
      const li = document.createElement("li");
      li.className = "hit";
      li.dataset.camera = s.camera_id;
      li.tabIndex = 0;
      const detail = hit.distance !== undefined
        ? `distance ${hit.distance.toFixed(2)}`
        : s.plate ? `${s.plate} · ${Math.round((s.plate_score ?? s.score) * 100)}%`
        : `${Math.round(s.score * 100)}%`;
      const cells = [
        ["n", String(i + 1)],
        ["time", formatTime(s.first_seen)],
        ["camera", camera ? camera.name : s.camera_id],
        ["class", s.class_name],
        ["detail", detail],
      ];
      for (const [cls, text] of cells) {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = text;
        li.append(span);
        if (cls === "n") li.append(this.thumbnail(s.snapshot_ref));
      }
      li.append(this.footageButton(s, camera ? camera.name : s.camera_id));
      li.title = "Show this camera on the wall";
      const pick = () => this.onPick(s.camera_id);
      li.addEventListener("click", pick);
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
      return li;
    });
    this.els.results.replaceChildren(...rows);
    this.map.setTrajectory(this.hits.map((h) => h.sighting.camera_id));
  }
}
