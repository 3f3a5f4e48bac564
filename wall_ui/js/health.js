// The health tab: every camera's live health as tables by department (refreshed while shown).
import { api } from "./api.js";

const REFRESH_MS = 2000;
const STATES = ["online", "degraded", "connecting", "offline", "disabled", "unknown"];

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

const fmt = (value, digits = 1) =>
  value === null || value === undefined ? "–" : Number(value).toFixed(digits);

function badge(health) {
  return el("span", {
    className: `badge ${health.state}`,
    textContent: health.state,
    title: health.reason || health.last_error || "",
  });
}

function row(camera) {
  const h = camera.health;
  const num = (text) => el("td", { className: "num", textContent: text });
  return el("tr", { title: camera.location.address || "" }, [
    el("td", {}, [badge(h)]),
    el("td", { textContent: camera.name }),
    el("td", { className: "muted", textContent: camera.id }),
    num(fmt(h.fps)),
    num(fmt(h.bitrate_kbps, 0)),
    num(fmt(h.keyframe_interval_s)),
    num(fmt(h.last_frame_age_s)),
    num(h.decode_errors ?? "–"),
    num(h.reconnects ?? "–"),
  ]);
}

function departmentTable(name, cameras) {
  const head = ["State", "Camera", "Id", "fps", "kbps", "keyframe s", "last frame s",
    "decode errors", "reconnects"].map((text) => el("th", { textContent: text }));
  return el("section", {}, [
    el("h2", { textContent: `${name} (${cameras.length})` }),
    el("table", {}, [el("thead", {}, [el("tr", {}, head)]), el("tbody", {}, cameras.map(row))]),
  ]);
}

function render(cameras, total) {
  const byDepartment = new Map();
  for (const camera of cameras) {
    const list = byDepartment.get(camera.department_name) || [];
    list.push(camera);
    byDepartment.set(camera.department_name, list);
  }
  const sections = [...byDepartment].map(([name, list]) => departmentTable(name, list));
  $("departments").replaceChildren(
    ...(sections.length ? sections : [el("p", { className: "muted", textContent: "No cameras." })]),
  );
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const camera of cameras) counts[camera.health.state] += 1;
  const parts = STATES.filter((s) => counts[s]).map((s) =>
    el("span", {}, [badge({ state: s }), ` ${counts[s]}`]));
  const shown = total > cameras.length ? ` (showing ${cameras.length} of ${total})` : "";
  $("summary").replaceChildren(el("span", { className: "counts" }, parts), shown);
}

export function showError(box, message) {
  box.hidden = !message;
  box.textContent = message || "";
}

async function refreshCameras() {
  try {
    const response = await api("/api/cameras?limit=1000");
    const total = Number(response.headers.get("X-Total-Count") || 0);
    render(await response.json(), total);
    showError($("banner"), "");
  } catch (error) {
    showError($("banner"), `Cannot refresh camera health: ${error.message}`);
  }
}

async function refreshMeta() {
  try {
    const response = await fetch("/healthz");
    if (!response.ok) return;
    const info = await response.json();
    const title = `Sharpeye — ${info.registry.district.name}`;
    document.title = title;
    $("title").textContent = title;
    showError($("reload-error"), info.registry.reload_error &&
      `Registry edit rejected:\n${info.registry.reload_error}`);
  } catch {
    // The camera refresh reports connectivity problems; nothing to add here.
  }
}

let timer = null;

async function loop(isVisible) {
  if (isVisible()) await refreshCameras();
  await refreshMeta();
  timer = setTimeout(() => loop(isVisible), REFRESH_MS);
}

// Camera health and the registry's state; the tables only while `isVisible()`.
export function startHealth(isVisible) {
  clearTimeout(timer);
  loop(isVisible);
}
