// Calls to the command API, and the wall's login session.
//
// A login gives a short-lived access token and a session that renews it (POST
// /api/auth/refresh) until the session's end (a shift, SHARPEYE_SESSION_MAX_S). The wall
// renews in the background at two thirds of each token's life, and again whenever it may have
// slept through that (tab shown again, network back, a timer that fired late), so an
// operator never sees a login during a shift. Only when the session itself is gone (logout,
// revoked, user disabled, its maximum length) does the sign-in panel open, in a corner: it
// never covers the live tiles. Tokens live in sessionStorage (gone with the tab) and never in
// a URL: WebSockets send theirs as their first message (alarms.js).
const TOKEN_KEY = "sharpeye.access_token";
const REFRESH_KEY = "sharpeye.refresh_token";
const RENEW_AT_KEY = "sharpeye.renew_at";
const EXPIRES_KEY = "sharpeye.expires_at";
const USER_KEY = "sharpeye.user";
const RENEW_FRACTION = 2 / 3;
// Renewal attempts while the API is unreachable (a restart, the network): the session is
// still good, keep trying.
const RETRY_MS = 5000;
// Timers in a hidden or sleeping tab fire late: look at the clock this often as well.
const WATCH_MS = 15000;

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

// Events: "renewed" (a fresh access token), "ended" (the session is gone), "login".
export const session = new EventTarget();

export function accessToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function currentUser() {
  return sessionStorage.getItem(USER_KEY) || "local";
}

const stored = (key) => Number(sessionStorage.getItem(key) || 0);

function keep(body) {
  // Times from our own clock at receipt: the browser's clock may differ from the API's.
  const now = Date.now();
  const life = Math.max(1, body.expires_in) * 1000;
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  if (body.refresh_token) sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  sessionStorage.setItem(RENEW_AT_KEY, String(now + life * RENEW_FRACTION));
  sessionStorage.setItem(EXPIRES_KEY, String(now + life));
  if (body.user?.name) sessionStorage.setItem(USER_KEY, body.user.name);
  schedule(now + life * RENEW_FRACTION);
  session.dispatchEvent(new Event("renewed"));
}

function forget() {
  for (const key of [TOKEN_KEY, REFRESH_KEY, RENEW_AT_KEY, EXPIRES_KEY]) {
    sessionStorage.removeItem(key);
  }
  clearTimeout(timer);
}

let timer = null;
function schedule(at) {
  clearTimeout(timer);
  timer = setTimeout(() => renewSoon(), Math.max(1000, at - Date.now()));
}

let renewing = null;
// true: renewed; false: the session is gone (the sign-in panel is open); null: the API could
// not be reached (retried in RETRY_MS).
export function renew() {
  if (renewing) return renewing;
  renewing = (async () => {
    const refresh = sessionStorage.getItem(REFRESH_KEY);
    if (!refresh) return false;
    let response;
    try {
      response = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refresh }),
      });
    } catch {
      return null;
    }
    if (response.status === 401 || response.status === 422) {
      const body = await response.json().catch(() => ({}));
      endSession(typeof body.detail === "string" ? body.detail : "");
      return false;
    }
    if (!response.ok) return null;
    keep(await response.json());
    return true;
  })().finally(() => {
    renewing = null;
  });
  return renewing;
}

async function renewSoon() {
  if (await renew() === null) schedule(Date.now() + RETRY_MS);
}

function renewIfDue() {
  if (sessionStorage.getItem(REFRESH_KEY) && Date.now() >= stored(RENEW_AT_KEY)) renewSoon();
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) renewIfDue();
});
window.addEventListener("online", renewIfDue);
window.addEventListener("pageshow", renewIfDue);
setInterval(renewIfDue, WATCH_MS);
if (sessionStorage.getItem(REFRESH_KEY)) schedule(stored(RENEW_AT_KEY)); // after a reload

// A token good for the next few seconds, renewed first if it is not; null without a session.
export async function freshToken() {
  const token = accessToken();
  if (token && Date.now() < stored(EXPIRES_KEY) - 3000) return token;
  if (sessionStorage.getItem(REFRESH_KEY)) await renew();
  return accessToken();
}

// The session is over: keep the wall as it is, say so, and open the corner sign-in panel.
function endSession(reason) {
  const had = Boolean(sessionStorage.getItem(REFRESH_KEY));
  forget();
  if (had) session.dispatchEvent(new CustomEvent("ended", { detail: reason }));
  signIn(reason ? `Session ended (${reason}). Sign in to continue.` : "");
}

let loginWaiters = null;

// Resolves once someone signs in through the corner panel (non-modal: the wall stays live
// and usable behind it).
export function signIn(notice = "") {
  const panel = document.getElementById("login");
  const note = document.getElementById("login-note");
  if (note) {
    note.textContent = notice;
    note.hidden = !notice;
  }
  if (loginWaiters) return new Promise((resolve) => loginWaiters.push(resolve));
  loginWaiters = [];
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  return new Promise((resolve) => {
    loginWaiters.push(resolve);
    form.onsubmit = async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const response = await fetch("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(data),
      }).catch(() => null);
      if (!response || !response.ok) {
        error.textContent = response ? "Wrong user name or password." : "The API is not reachable.";
        return;
      }
      const body = await response.json();
      const before = sessionStorage.getItem(USER_KEY);
      keep(body);
      form.reset();
      error.textContent = "";
      panel.close();
      if (before && before !== body.user?.name) {
        // Another operator: their own scope, layouts and alarms, from a clean page.
        location.reload();
        return;
      }
      const waiters = loginWaiters;
      loginWaiters = null;
      for (const w of waiters) w();
      session.dispatchEvent(new Event("login"));
    };
    if (!panel.open) panel.show();
  });
}

// Ends the session on the server (no renewals; its sockets close) and on this wall.
export async function logout() {
  const token = accessToken();
  if (token) {
    await fetch("/api/auth/logout", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => {});
  }
  forget();
  sessionStorage.removeItem(USER_KEY);
  location.reload();
}

export async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const headers = { ...(options.headers || {}) };
    const token = await freshToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) {
      // Expired in a sleep, or revoked: renew once; without a session, wait for a sign-in.
      const renewed = token ? await renew() : false;
      if (renewed === null) throw new ApiError(503, "the API is not reachable");
      if (renewed === false) await signIn();
      continue;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      throw new ApiError(response.status, detail);
    }
    return response;
  }
  throw new ApiError(401, "not logged in");
}

export async function apiJson(path, options) {
  return (await api(path, options)).json();
}
