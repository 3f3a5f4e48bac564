// The camera catalog (GET /api/cameras, paged; group names from GET /api/groups) and the
// tree by department and group. The tree is a virtual list: only the rows in view exist in
// the DOM, so 10,000 cameras scroll as smoothly as ten. Departments and groups start
// collapsed; a search shows the matching cameras flat.
import { api } from "./api.js";

const PAGE = 1000;
const ROW_PX = 26;
const OVERSCAN = 8;

export class Catalog extends EventTarget {
  constructor(endpoint, groupsEndpoint = "/api/groups") {
    super();
    this.endpoint = endpoint;
    this.groupsEndpoint = groupsEndpoint;
    this.cameras = [];
    this.byId = new Map();
    this.groupNames = new Map();
    this.searchText = new Map();
  }

  async load() {
    // Names are asked for alongside the first page rather than after all of them.
    const names = this.loadGroupNames();
    const cameras = [];
    let total = Infinity;
    for (let offset = 0; offset < total; offset += PAGE) {
      const response = await api(`${this.endpoint}?limit=${PAGE}&offset=${offset}`);
      total = Number(response.headers.get("X-Total-Count") || 0);
      const page = await response.json();
      cameras.push(...page);
      if (page.length < PAGE) break;
    }
    this.groupNames = await names;
    this.cameras = cameras;
    this.byId = new Map(cameras.map((c) => [c.id, c]));
    // Lower-cased once per load, not per camera on every keystroke (10,000 cameras). A
    // newline between fields keeps a needle from matching across two of them.
    this.searchText = new Map(cameras.map((c) => [c.id, [
      c.id, c.name, c.location.address, ...c.tags, ...c.groups.map((g) => this.groupName(g)),
    ].join("\n").toLowerCase()]));
    this.dispatchEvent(new Event("change"));
  }

  async loadGroupNames() {
    try {
      const groups = await (await api(this.groupsEndpoint)).json();
      return new Map(groups.map((g) => [g.id, g.name]));
    } catch (error) {
      // Without names the tree still works on ids; the cameras are what matter.
      console.warn("group names unavailable:", error);
      return this.groupNames;
    }
  }

  groupName(id) {
    return this.groupNames.get(id) || id;
  }

  // A health change from the live socket (same shape as ingest's CameraHealth).
  updateHealth(health) {
    const camera = this.byId.get(health.camera_id);
    if (!camera) return;
    camera.health = { ...camera.health, ...health };
    this.dispatchEvent(new CustomEvent("health", { detail: camera }));
  }

  // The groups of the loaded cameras as {id, name}, by name.
  groups() {
    const ids = new Set();
    for (const c of this.cameras) for (const g of c.groups) ids.add(g);
    return [...ids].map((id) => ({ id, name: this.groupName(id) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  matches(camera, needle) {
    return (this.searchText.get(camera.id) || "").includes(needle);
  }

  camerasOf(groupOrDepartment) {
    const [kind, id] = groupOrDepartment.split(":");
    return this.cameras.filter((c) =>
      kind === "group" ? c.groups.includes(id) : c.department === id);
  }
}

export class CameraTree {
  constructor(catalog, container, spacer, info, search, onPick) {
    this.catalog = catalog;
    this.container = container;
    this.spacer = spacer;
    this.info = info;
    this.onPick = onPick;
    this.open = new Set();
    this.rows = [];
    this.needle = "";
    this.rendered = new Map();
    catalog.addEventListener("change", () => this.rebuild());
    catalog.addEventListener("health", (e) => this.refreshRow(e.detail.id));
    container.addEventListener("scroll", () => this.paint());
    new ResizeObserver(() => this.paint()).observe(container);
    let pending = null;
    search.addEventListener("input", () => {
      clearTimeout(pending);
      pending = setTimeout(() => {
        this.needle = search.value.trim().toLowerCase();
        this.rebuild();
      }, 120);
    });
  }

  rebuild() {
    const rows = [];
    const cameras = this.catalog.cameras;
    if (this.needle) {
      for (const c of cameras) {
        if (this.catalog.matches(c, this.needle)) rows.push({ kind: "camera", camera: c });
      }
      this.info.textContent = `${rows.length} of ${cameras.length} cameras match`;
    } else {
      const departments = new Map();
      for (const c of cameras) {
        let d = departments.get(c.department);
        if (!d) {
          d = { name: c.department_name, groups: new Map(), count: 0 };
          departments.set(c.department, d);
        }
        d.count += 1;
        const groups = c.groups.length ? c.groups : [""];
        for (const g of groups) {
          if (!d.groups.has(g)) d.groups.set(g, []);
          d.groups.get(g).push(c);
        }
      }
      for (const [id, d] of departments) {
        const key = `d:${id}`;
        rows.push({ kind: "department", key, label: d.name, count: d.count });
        if (!this.open.has(key)) continue;
        for (const [g, list] of d.groups) {
          const gkey = `g:${id}:${g}`;
          const label = g ? this.catalog.groupName(g) : "(no group)";
          rows.push({ kind: "group", key: gkey, label, group: g, count: list.length });
          if (!this.open.has(gkey)) continue;
          for (const c of list) rows.push({ kind: "camera", camera: c, depth: 2 });
        }
      }
      this.info.textContent = `${cameras.length} cameras`;
    }
    this.rows = rows;
    this.spacer.style.height = `${rows.length * ROW_PX}px`;
    for (const node of this.rendered.values()) node.remove();
    this.rendered.clear();
    this.paint();
  }

  paint() {
    const top = this.container.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN);
    const last = Math.min(
      this.rows.length, Math.ceil((top + this.container.clientHeight) / ROW_PX) + OVERSCAN);
    for (const [index, node] of this.rendered) {
      if (index < first || index >= last) {
        node.remove();
        this.rendered.delete(index);
      }
    }
    for (let i = first; i < last; i += 1) {
      if (!this.rendered.has(i)) {
        const node = this.rowNode(this.rows[i]);
        node.style.top = `${i * ROW_PX}px`;
        this.container.append(node);
        this.rendered.set(i, node);
      }
    }
  }

  refreshRow(cameraId) {
    for (const [i, node] of this.rendered) {
      if (this.rows[i].kind === "camera" && this.rows[i].camera.id === cameraId) {
        const fresh = this.rowNode(this.rows[i]);
        fresh.style.top = node.style.top;
        node.replaceWith(fresh);
        this.rendered.set(i, fresh);
      }
    }
  }

  rowNode(row) {
    const node = document.createElement("div");
    node.className = `row ${row.kind}`;
    node.setAttribute("role", "treeitem");
    if (row.kind === "camera") {
      const c = row.camera;
      node.dataset.camera = c.id;
      node.draggable = true;
      node.title = `${c.id} · ${c.department_name}${c.location.address ? ` · ${c.location.address}` : ""}`;
      node.style.paddingLeft = `${0.5 + (row.depth || 0) * 0.9}rem`;
      const dot = document.createElement("span");
      dot.className = `dot ${c.health.state}`;
      node.append(dot, ` ${c.name}`);
      node.addEventListener("dragstart", (e) => {
        e.dataTransfer.setData("text/x-camera-id", c.id);
        e.dataTransfer.effectAllowed = "copy";
      });
      node.addEventListener("dblclick", () => this.onPick(c.id));
    } else {
      const opened = this.open.has(row.key);
      node.dataset.key = row.key;
      if (row.group) node.dataset.group = row.group;
      node.setAttribute("aria-expanded", String(opened));
      node.style.paddingLeft = row.kind === "group" ? "1.2rem" : "0.3rem";
      node.textContent = `${opened ? "▾" : "▸"} ${row.label} (${row.count})`;
      node.addEventListener("click", () => {
        if (opened) this.open.delete(row.key);
        else this.open.add(row.key);
        this.rebuild();
      });
    }
    return node;
  }
}
