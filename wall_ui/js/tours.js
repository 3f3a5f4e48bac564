// Tours: page through the cameras of a group (or department) on the wall's tiles every N s.
// The alarm tile stays out of the tour, so an alarm on it is never rotated away.
// With S tour tiles (all but the alarm tile): up to S cameras are all shown at once and stay
// (nothing to rotate); more are shown S at a time, page after page, then from the first
// again. Tiles a page does not fill are cleared, never left with a camera from before the
// tour. A layout change re-shows the current page on the new tiles at once.
export class Tour extends EventTarget {
  constructor(wall, catalog) {
    super();
    this.wall = wall;
    this.catalog = catalog;
    this.timer = null;
    this.page = 0;
    this.pages = 0;
    this.source = null;
    wall.addEventListener("layout", () => {
      if (this.running) this.show();
    });
  }

  get running() {
    return this.timer !== null;
  }

  start(source, seconds) {
    this.stop();
    this.source = source;
    this.page = 0;
    this.show();
    this.timer = setInterval(() => this.step(), Math.max(2, seconds) * 1000);
    this.dispatchEvent(new Event("change"));
  }

  step() {
    this.page += 1;
    this.show();
  }

  show() {
    // Read each time: cameras enabled, disabled or added during the tour count at once.
    const cameras = this.catalog.camerasOf(this.source).filter((c) => c.enabled);
    const tiles = this.wall.tiles;
    const slots = Math.max(1, tiles.length - 1);
    this.pages = Math.max(1, Math.ceil(cameras.length / slots));
    this.page %= this.pages;
    const shown = cameras.slice(this.page * slots, (this.page + 1) * slots);
    for (let i = 0; i < slots; i += 1) tiles[i]?.show(shown[i]?.id ?? null);
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
