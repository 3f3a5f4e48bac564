// The video wall: camera tree, wall of WHEP tiles, tours, saved layouts, live alarms, map,
// the health tables, and (for investigators) sighting search with its trajectory map.
// Plain ES modules served as static files by the command API.
import { apiJson, currentUser, logout, session } from "./js/api.js";
import { AlarmPanel } from "./js/alarms.js";
import { CameraTree, Catalog } from "./js/catalog.js";
import { showError, startHealth } from "./js/health.js";
import * as layouts from "./js/layouts.js";
import { CameraMap } from "./js/map.js";
import { currentPlayback, setPlaybackSources } from "./js/playback.js";
import { SEARCH_ROLES, SearchPanel } from "./js/search.js";
import { Tour, tourSources } from "./js/tours.js";
import { Wall } from "./js/wall.js";

const $ = (id) => document.getElementById(id);
const CATALOG_REFRESH_MS = 60000;

const catalog = new Catalog("/api/cameras");
const wall = new Wall($("wall"), catalog);
const tour = new Tour(wall, catalog);
const tree = new CameraTree(catalog, $("tree"), $("tree-spacer"), $("tree-info"), $("search"),
  (id) => wall.pick(id));
const map = new CameraMap($("map"), $("map-tip"), catalog, (id) => {
  wall.assign(wall.selected, id);
  showTab("wall");
});
const searchMap = new CameraMap($("sr-map"), $("sr-map-tip"), catalog, (id) => showOnWall(id));
const search = new SearchPanel({
  form: $("sr-form"), kind: $("sr-kind"), text: $("sr-text"), photo: $("sr-photo"),
  start: $("sr-start"), end: $("sr-end"), status: $("sr-status"), results: $("sr-results"),
  more: $("sr-more"), fuzzy: $("sr-fuzzy"), fuzzyLabel: $("sr-fuzzy-label"), case: $("sr-case"),
  export: $("sr-export"),
  looks: $("sr-looks"), cls: $("sr-class"), color: $("sr-color"), lower: $("sr-lower"),
}, catalog, searchMap, (id) => showOnWall(id));
// Playback's "add a camera" list: the cameras the caller may see, the wall's own first.
setPlaybackSources({
  cameras: () => catalog.cameras,
  onWall: () => wall.tiles.map((t) => t.camera).filter(Boolean),
});
const alarms = new AlarmPanel($("alarm-list"), $("live-state"), wall, catalog,
  (cameraId, alarmed) => (alarmed ? map.markAlarm(cameraId) : map.clearAlarm(cameraId)));

let tab = "wall";
function showTab(name) {
  tab = name;
  for (const b of document.querySelectorAll("#tabs button")) {
    b.setAttribute("aria-selected", String(b.dataset.tab === name));
  }
  for (const p of document.querySelectorAll(".page")) p.hidden = p.dataset.page !== name;
  if (name === "map") map.draw();
  if (name === "search") searchMap.draw();
}
function showOnWall(id) {
  wall.assign(wall.selected, id);
  showTab("wall");
}

// The Search tab only for those the API lets search; the API refuses the others anyway.
async function showSearchIfAllowed() {
  try {
    const me = await apiJson("/api/auth/me");
    const allowed = me.roles.some((r) => SEARCH_ROLES.includes(r));
    document.querySelector("#tabs [data-tab=search]").hidden = !allowed;
    return allowed;
  } catch (error) {
    console.warn("roles unavailable, search hidden:", error);
    return false;
  }
}
for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}

// Layout and tours.
function selectLayout(key) {
  const select = $("layout-select");
  if (![...select.options].some((o) => o.value === key)) {
    select.add(new Option(key.replace("x", " × "), key), select.querySelector("[value=custom]"));
  }
  select.value = key;
}
$("layout-select").addEventListener("change", (e) => {
  let key = e.target.value;
  if (key === "custom") {
    key = (prompt("Custom grid as ROWSxCOLS (up to 8x8):", "3x4") || "").trim().toLowerCase();
    if (!/^\d+x\d+$/.test(key)) {
      selectLayout(wall.layoutKey);
      return;
    }
  }
  wall.setLayout(key);
  selectLayout(wall.layoutKey);
});
function fillTourSources() {
  const select = $("tour-group");
  const current = select.value;
  select.replaceChildren(...tourSources(catalog).map(([heading, options]) => {
    const group = document.createElement("optgroup");
    group.label = heading;
    group.append(...options.map(([value, label]) => new Option(label, value)));
    return group;
  }));
  if (current) select.value = current;
}
catalog.addEventListener("change", fillTourSources);
$("tour-toggle").addEventListener("click", () => {
  if (tour.running) tour.stop();
  else tour.start($("tour-group").value, Number($("tour-seconds").value) || 10);
});
tour.addEventListener("change", () => {
  $("tour-toggle").textContent = tour.running ? "Stop tour" : "Start tour";
});

// Saved layouts (per user, this browser).
function fillSaved() {
  $("saved-layouts").replaceChildren(...layouts.names().map((n) => new Option(n, n)));
}
$("layout-save").addEventListener("click", () => {
  const name = prompt("Save this wall layout as:");
  if (!name) return;
  layouts.save(name, wall.snapshot());
  fillSaved();
  $("saved-layouts").value = name;
});
$("layout-load").addEventListener("click", () => {
  const saved = layouts.get($("saved-layouts").value);
  if (!saved) return;
  tour.stop();
  wall.restore(saved);
  selectLayout(saved.layout);
});
$("layout-delete").addEventListener("click", () => {
  layouts.remove($("saved-layouts").value);
  fillSaved();
});
$("wall-clear").addEventListener("click", () => {
  tour.stop();
  wall.clear();
});
wall.addEventListener("change", () => layouts.remember(wall.snapshot()));

async function refreshCatalog() {
  try {
    await catalog.load();
    showError($("banner"), "");
  } catch (error) {
    showError($("banner"), `Cannot load cameras: ${error.message}`);
  }
  setTimeout(refreshCatalog, CATALOG_REFRESH_MS);
}

// The session: a quiet line in the banner when it ends (the sign-in panel opens in the
// corner), gone at the next sign-in; log out ends it on the server too.
function showUser() {
  $("user").textContent = currentUser() === "local" ? "" : currentUser();
  $("logout").hidden = currentUser() === "local";
}
session.addEventListener("ended", (e) => {
  showError($("banner"), `Signed out: ${e.detail || "session ended"}. Sign in (bottom right) to continue.`);
});
session.addEventListener("login", () => {
  showError($("banner"), "");
  showUser();
});
$("logout").addEventListener("click", () => logout());

async function main() {
  await refreshCatalog();
  showUser();
  await showSearchIfAllowed();
  fillSaved();
  const last = layouts.last();
  if (last && !new URLSearchParams(location.search).has("empty")) {
    wall.restore(last);
    selectLayout(last.layout);
  }
  alarms.connect();
  startHealth(() => tab === "health");
}

// For operators' scripts and the browser tests (window.wall would be the #wall element).
window.sharpeye = {
  ready: main(),
  catalog,
  wall,
  tour,
  alarms,
  tree,
  map,
  search,
  searchMap,
  showTab,
  assign: (index, id) => wall.assign(index, id),
  setLayout: (key) => {
    wall.setLayout(key);
    selectLayout(String(key));
  },
  stats: () => wall.stats(),
  tiles: () => wall.tiles.map((t) => t.camera),
  playback: () => currentPlayback(),
};
