// The read API under api/v1, with the person's bearer token (sessionStorage: it lives as
// long as the tab, never on disk). Paths are relative so a proxy's root path works.

const TOKEN_KEY = "lineage.token";

/** The server refused the token (401: unknown, revoked or missing; 403: lacks the scope). */
export class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Any other error answer: the server's JSON message (what, where, what to do). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(secret) {
  sessionStorage.setItem(TOKEN_KEY, secret);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function url(path, params) {
  const u = new URL("api/v1/" + path, document.baseURI);
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) u.searchParams.append(name, v);
  }
  return u;
}

/** GET (or POST `form`) an API path; JSON back, or Refused / ApiError. */
export async function api(path, { params, form, secret } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = secret ?? token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const init = form ? { method: "POST", body: form, headers } : { headers };
  let response;
  try {
    response = await fetch(url(path, params), init);
  } catch (err) {
    throw new ApiError(0, { message: `the server did not answer (${err.message})` });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401 || response.status === 403) {
    const why = response.status === 401
      ? "The server refused the token: it is missing, unknown or revoked."
      : "The server refused the token: it lacks the read scope.";
    throw new Refused(response.status, body && body.message ? `${why} (${body.message})` : why);
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** A node key as one path segment: the server decodes it, slashes included. */
export function keyPath(key) {
  return encodeURIComponent(key);
}
