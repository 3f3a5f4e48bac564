// Tours: cycle the cameras of a group (or department) through the wall's tiles every N s.
// The alarm tile stays out of the tour, so an alarm on it is never rotated away.
export class Tour extends EventTarget {
  constructor(wall, catalog) {
    super();
    this.wall = wall;
    this.catalog = catalog;
    this.timer = null;
    this.offset = 0;
    this.source = null;
  }

  get running() {
    return this.timer !== null;
  }

  start(source, seconds) {
    this.stop();
    this.source = source;
    this.offset = 0;
    this.step();
    this.timer = setInterval(() => this.step(), Math.max(2, seconds) * 1000);
    this.dispatchEvent(new Event("change"));
  }

  step() {
    const cameras = this.catalog.camerasOf(this.source).filter((c) => c.enabled);
    if (!cameras.length) return;
    const slots = Math.max(1, this.wall.tiles.length - 1);
    const shown = [];
    for (let i = 0; i < Math.min(slots, cameras.length); i += 1) {
      shown.push(cameras[(this.offset + i) % cameras.length].id);
    }
    this.offset = (this.offset + slots) % cameras.length;
    for (let i = 0; i < slots; i += 1) this.wall.tiles[i]?.show(shown[i] ?? null);
    this.dispatchEvent(new Event("step"));
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.dispatchEvent(new Event("change"));
  }
}

// What a tour can cycle, for the picker: groups by name, then departments, as
// [heading, [[value, label], ...]] (one <optgroup> each, so a group named like a department
// is still told apart). Values keep the ids (`group:ID`, `department:ID`) Tour.start takes.
export function tourSources(catalog) {
  const departments = new Map(catalog.cameras.map((c) => [c.department, c.department_name]));
  return [
    ["Groups", catalog.groups().map((g) => [`group:${g.id}`, g.name])],
    ["Departments", [...departments].map(([id, name]) => [`department:${id}`, name])],
  ];
}
