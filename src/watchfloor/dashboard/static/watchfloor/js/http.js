// The one way the pages talk to the REST API (/api/v1/...): same-origin session credentials, a JSON
// body, Django's CSRF token on writes, and the API's error shape turned into an exception.
//
//   import { apiFetch, ApiError } from "./http.js";
//   try { const alert = await apiFetch(`/api/v1/alerts/${id}/acknowledge`, { method: "POST" }); }
//   catch (err) { if (err instanceof ApiError) show(err.message, err.fields); }

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** An API error: `{"error": {"code", "message", "fields"}}`, or a network/non-JSON failure. */
export class ApiError extends Error {
  constructor(status, code, message, fields = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status; // HTTP status, 0 when the request never got an answer
    this.code = code; // machine-readable: "conflict", "validation_error", "forbidden", ...
    this.fields = fields || {}; // {"field.path": "what is wrong"}
  }
}

/**
 * Django's CSRF token from the `csrftoken` cookie ("" when there is none). Django sets the cookie
 * once a page has used the token: render `{% csrf_token %}` or decorate the view with
 * `ensure_csrf_cookie` on any page that writes through apiFetch.
 */
export function csrfToken() {
  for (const part of document.cookie ? document.cookie.split(";") : []) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === "csrftoken") {
      return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return "";
}

/** Fetch `path` and return its parsed JSON (null for an empty answer); throws ApiError. */
export async function apiFetch(path, { method = "GET", body } = {}) {
  method = method.toUpperCase();
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (!SAFE_METHODS.has(method)) headers["X-CSRFToken"] = csrfToken();

  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network_error", "The server could not be reached.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      data = undefined; // not JSON: an HTML error page from a proxy, say
    }
  }
  if (!response.ok) {
    const error = data && typeof data === "object" ? data.error : null;
    if (error && typeof error === "object") {
      throw new ApiError(
        response.status,
        error.code || "error",
        error.message || `Request failed (${response.status}).`,
        error.fields,
      );
    }
    throw new ApiError(response.status, "http_error", `Request failed (${response.status}).`);
  }
  if (data === undefined) {
    throw new ApiError(response.status, "bad_response", "The server answered with something other than JSON.");
  }
  return data;
}
