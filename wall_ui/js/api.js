// Calls to the command API. Where the API has logins, the access token lives in
// sessionStorage (gone with the tab) and a 401 opens the login dialog.
const TOKEN_KEY = "sharpeye.access_token";
const USER_KEY = "sharpeye.user";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

export function accessToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function currentUser() {
  return sessionStorage.getItem(USER_KEY) || "local";
}

let loginWaiters = null;

function askLogin() {
  if (loginWaiters) return new Promise((resolve) => loginWaiters.push(resolve));
  loginWaiters = [];
  const dialog = document.getElementById("login");
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
      });
      if (!response.ok) {
        error.textContent = "Wrong user name or password.";
        return;
      }
      const body = await response.json();
      sessionStorage.setItem(TOKEN_KEY, body.access_token);
      sessionStorage.setItem(USER_KEY, body.user?.name || data.username);
      dialog.close();
      const waiters = loginWaiters;
      loginWaiters = null;
      for (const w of waiters) w();
    };
    dialog.showModal();
  });
}

export async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const headers = { ...(options.headers || {}) };
    const token = accessToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      await askLogin();
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
