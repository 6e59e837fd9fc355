// The alert detail page's actions: each form posts to the REST API through http.js, then htmx
// swaps in the alert's body re-read from the server (the view renders it alone for an htmx
// request), so the timeline, status and buttons are the server's; the outcome or the API's error
// is announced in the page's aria-live region. htmx is django-htmx's copy (base template).
import { apiFetch, ApiError } from "./http.js";
import { showRevealButtons } from "./reveal.js";

const root = document.getElementById("alert-detail");
const live = document.getElementById("action-status");
const DONE = {
  acknowledge: "Acknowledged.",
  assign: "Assigned.",
  escalate: "Escalated.",
  resolve: "Resolved.",
  reopen: "Reopened.",
  comment: "Comment added.",
};
// the API path of each action under /api/v1/alerts/{id}/
const PATHS = { comment: "comments" };

function say(text, kind) {
  live.textContent = text;
  live.className = `action-status action-status--${kind}`;
}

function reveal() {
  // the actions are hidden without JavaScript (no dead buttons); show them now
  for (const box of root.querySelectorAll("[data-actions]")) box.hidden = false;
  showRevealButtons(root);
}

function bodyFor(action, form) {
  const data = new FormData(form);
  const note = String(data.get("note") || "").trim();
  if (action === "assign") return { assignee_id: Number(data.get("assignee_id")), note };
  if (action === "escalate") return { note };
  if (action === "resolve" || action === "reopen") return { note };
  if (action === "comment") return { body: String(data.get("body") || "").trim() };
  return undefined; // acknowledge takes no body
}

async function refresh() {
  // htmx swaps in the alert's body from the server; a full reload if that fails
  let failed = false;
  const onError = () => {
    failed = true;
  };
  document.body.addEventListener("htmx:responseError", onError, { once: true });
  document.body.addEventListener("htmx:sendError", onError, { once: true });
  try {
    await window.htmx.ajax("GET", window.location.href, { target: "#alert-body", swap: "outerHTML" });
  } catch (err) {
    failed = true;
  }
  document.body.removeEventListener("htmx:responseError", onError);
  document.body.removeEventListener("htmx:sendError", onError);
  if (failed || !document.getElementById("alert-body")) {
    window.location.reload();
    return;
  }
  reveal();
  // the button that had focus is gone: keep the keyboard user at the outcome
  live.focus({ preventScroll: true });
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".field__error")) el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

function showFieldErrors(form, fields) {
  const unplaced = [];
  for (const [name, message] of Object.entries(fields || {})) {
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) {
      unplaced.push(message);
      continue;
    }
    const error = document.createElement("span");
    error.className = "field__error";
    error.id = `${input.id || name}-error`;
    error.textContent = message;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", error.id);
    input.insertAdjacentElement("afterend", error);
  }
  return unplaced;
}

root.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-action]");
  if (!form) return;
  event.preventDefault();
  const action = form.dataset.action;
  const buttons = root.querySelectorAll("form[data-action] button");
  clearErrors(form);
  for (const b of buttons) b.disabled = true;
  form.setAttribute("aria-busy", "true");
  say("Working…", "busy");
  try {
    await apiFetch(`/api/v1/alerts/${root.dataset.alertId}/${PATHS[action] || action}`, {
      method: "POST",
      body: bodyFor(action, form),
    });
    say(DONE[action], "ok");
    await refresh();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 409) {
      // someone else changed the alert first: show what it is now
      say(`${err.message} The alert has been reloaded to show its current state.`, "error");
      await refresh();
      return;
    }
    const rest = showFieldErrors(form, err.fields);
    say([err.message, ...rest].join(" "), "error");
  } finally {
    form.removeAttribute("aria-busy");
    for (const b of root.querySelectorAll("form[data-action] button")) b.disabled = false;
  }
});

reveal();
