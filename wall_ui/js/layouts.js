// Named wall layouts, saved per user in this browser (localStorage), and the last layout,
// restored when the wall reopens.
import { currentUser } from "./api.js";

const key = () => `sharpeye.layouts.${currentUser()}`;
const LAST = "__last__";

export function loadAll() {
  try {
    return JSON.parse(localStorage.getItem(key()) || "{}");
  } catch {
    return {};
  }
}

function saveAll(all) {
  localStorage.setItem(key(), JSON.stringify(all));
}

export function names() {
  return Object.keys(loadAll()).filter((n) => n !== LAST).sort();
}

export function save(name, snapshot) {
  const all = loadAll();
  all[name] = snapshot;
  saveAll(all);
}

export function get(name) {
  return loadAll()[name] || null;
}

export function remove(name) {
  const all = loadAll();
  delete all[name];
  saveAll(all);
}

export const remember = (snapshot) => save(LAST, snapshot);
export const last = () => get(LAST);
