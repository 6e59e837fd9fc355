// The feed's actions: acknowledge at once; assign, escalate and resolve through an inline form
// (a note, required to resolve; a person to assign). Buttons and keys both come here.

import { apiFetch, ApiError } from "../http.js";
import { el } from "./dom.js";

export class FeedActions {
  /**
   * `feed`: the Feed; `live`: the LiveConnection (acknowledge goes over it when open);
   * `assignees(id)`: resolves with the people the alert may be assigned to ([{id, name}]);
   * `changed()`: something was written (tiles and map re-read).
   */
  constructor({ feed, live, assignees, changed }) {
    Object.assign(this, { feed, live, assignees, changed });
    feed.list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button && feed.list.contains(button)) this.start(button.closest(".alert-row"), button.dataset.action);
    });
  }

  /** True if the row offers `action` to this user (its button is there). */
  offers(li, action) {
    return Boolean(li?.querySelector(`.alert-row__actions button[data-action="${action}"]`));
  }

  /** What the button does: acknowledge now, or open the action's inline form. */
  start(li, action) {
    if (!this.offers(li, action)) return false;
    if (action === "acknowledge") this.act(li, action);
    else this.openForm(li, action);
    return true;
  }

  async act(li, action, body) {
    const id = Number(li.dataset.alertId);
    const error = li.querySelector(".alert-row__error");
    error.textContent = "";
    try {
      if (action === "acknowledge" && this.live.isOpen) {
        const reply = await this.live.request({ type: "alert.acknowledge", id });
        if (reply.type === "error") throw new Error(reply.message);
        this.feed.patch(id, { status: reply.alert.status, acknowledged_at: new Date().toISOString() });
      } else {
        const alert = await apiFetch(`/api/v1/alerts/${id}/${action}`, { method: "POST", body });
        const assignee = alert.assignee && (alert.assignee.full_name || alert.assignee.username);
        this.feed.patch(id, { status: alert.status, acknowledged_at: alert.acknowledged_at, assignee_name: assignee });
      }
      this.changed();
    } catch (err) {
      error.textContent = err instanceof ApiError ? Object.values(err.fields)[0] || err.message : err.message;
    }
  }

  async openForm(li, action) {
    const id = li.dataset.alertId;
    const box = li.querySelector(".alert-row__form");
    const fields = [];
    if (action === "assign") {
      let people;
      try {
        people = await this.assignees(id);
      } catch (err) {
        li.querySelector(".alert-row__error").textContent = `Could not load the people: ${err.message}`;
        return;
      }
      fields.push(
        el("label", { class: "sr-only", for: `assignee-${id}`, text: "Assign to" }),
        el("select", { id: `assignee-${id}`, name: "assignee_id", required: true },
          el("option", { value: "", text: people.length ? "Assign to…" : "Nobody can take it" }),
          ...people.map((p) => el("option", { value: p.id, text: p.name }))),
      );
    }
    const required = action === "resolve";
    fields.push(el("input", { name: "note", type: "text", maxlength: 2000, required, placeholder: required ? "How was it resolved?" : "Note (optional)", "aria-label": "Note" }));
    const close = () => {
      box.hidden = true;
      li.focus();
    };
    const form = el("form", {
      class: "inline-form",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const body = { note: data.get("note") || "" };
        if (action === "assign") body.assignee_id = Number(data.get("assignee_id"));
        close();
        this.act(li, action, body);
      },
      onkeydown: (event) => {
        if (event.key === "Escape") close();
      },
    }, ...fields,
      el("button", { type: "submit", class: "btn btn--primary btn--small", text: `Confirm ${action}` }),
      el("button", { type: "button", class: "btn btn--ghost btn--small", text: "Cancel", onclick: close }));
    box.dataset.action = action;
    box.replaceChildren(form);
    box.hidden = false;
    form.querySelector("select, input").focus();
  }
}
