// "Reveal contact": one site officer's name, phone and email, on an explicit click. The server
// checks noc:reveal_contact and the site's scope and audits every reveal; lists stay masked.
//
//   <button data-reveal-site="12" data-reveal-via="alert_page" hidden>Reveal contact</button>
//   <span data-reveal-out aria-live="polite"></span>   (the next one after the button)
//
// Buttons are hidden until this module runs (no dead button without JavaScript): call
// showRevealButtons(root) after swapping in new HTML.
import { apiFetch, ApiError } from "./http.js";

export function showRevealButtons(root = document) {
  for (const button of root.querySelectorAll("[data-reveal-site]")) button.hidden = false;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function contact(officer) {
  const box = document.createElement("span");
  box.className = "revealed";
  if (!officer) {
    box.textContent = "No officer in charge.";
    return box;
  }
  const name = document.createElement("strong");
  name.textContent = officer.name;
  box.append(name);
  // tel:/mailto: links built from text the API returned, never from HTML
  if (officer.phone) box.append(" · ", link(`tel:${officer.phone.replace(/[^\d+]/g, "")}`, officer.phone));
  if (officer.email) box.append(" · ", link(`mailto:${officer.email}`, officer.email));
  if (!officer.phone && !officer.email) box.append(" · no phone or email on record");
  return box;
}

function outFor(button) {
  let node = button.nextElementSibling;
  while (node && !node.matches("[data-reveal-out]")) node = node.nextElementSibling;
  return node;
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-reveal-site]");
  if (!button) return;
  const out = outFor(button);
  button.disabled = true;
  try {
    const data = await apiFetch(`/api/v1/sites/${button.dataset.revealSite}/officer/reveal`, {
      method: "POST",
      body: { via: button.dataset.revealVia || "api" },
    });
    out.replaceChildren(contact(data.officer));
    button.hidden = true;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    out.textContent = err.message;
    button.disabled = false;
  }
});

showRevealButtons();
