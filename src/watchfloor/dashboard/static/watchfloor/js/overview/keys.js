// Keyboard shortcuts of the overview (listed in the page's "Keyboard shortcuts" dialog):
//   j / k  next / previous alert in the feed      a  acknowledge the selected alert
//   e      escalate (its inline form)             r  resolve (its inline form)
//   /      the filters                            ?  this list
// Never while typing in a field, and never with Ctrl, Alt or Meta (the browser's own keys). An
// action key does what the row's button does, and only where the row has that button: the
// user's capabilities and the alert's status decide, as for the buttons.

const FIELDS = new Set(["INPUT", "TEXTAREA", "SELECT"]);
const ACTION_KEYS = { a: "acknowledge", e: "escalate", r: "resolve" };
const LABELS = { acknowledge: "Acknowledge", escalate: "Escalate", resolve: "Resolve" };

function typing(target) {
  return target instanceof HTMLElement && (FIELDS.has(target.tagName) || target.isContentEditable);
}

/** `hint(text)`: tell the user why a key did nothing. */
export function bindKeys({ feed, actions, search, help, hint }) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (typing(event.target) || help.open) return;
    const key = event.key;
    if (key === "j" || key === "k") {
      if (!feed.move(key === "j" ? 1 : -1)) hint("The feed is empty.");
    } else if (key in ACTION_KEYS) {
      const action = ACTION_KEYS[key];
      const li = feed.selected();
      if (!li) hint("Select an alert first: j and k move through the feed.");
      else if (!actions.start(li, action)) hint(`${LABELS[action]} is not available for this alert.`);
    } else if (key === "/") {
      search.focus();
    } else if (key === "?") {
      help.showModal();
    } else {
      return;
    }
    event.preventDefault();
  });
}
