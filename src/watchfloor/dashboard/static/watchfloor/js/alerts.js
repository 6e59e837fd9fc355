// The alerts page: select all on the page, the selected count, and the one confirmation of a
// bulk action (a dialog; the server asks on its own page when this script does not run).
const form = document.querySelector("[data-bulk]");
const filters = document.querySelector("[data-filters]");

// on a phone the list comes first: the filters start folded (the summary says how many are set)
if (filters && window.matchMedia("(max-width: 640px)").matches) filters.open = false;
const dialog = document.querySelector("[data-confirm]");

function boxes() {
  return form ? [...form.querySelectorAll("input[name=ids]")] : [];
}

function chosen() {
  return boxes().filter((box) => box.checked);
}

function showCount() {
  const count = form?.querySelector("[data-selected-count]");
  const all = form?.querySelector("[data-select-all]");
  const n = chosen().length;
  if (count) count.textContent = `${n} selected`;
  if (all) {
    all.checked = n > 0 && n === boxes().length;
    all.indeterminate = n > 0 && n < boxes().length;
  }
}

function hidden(name, value) {
  const input = document.createElement("input");
  input.type = "hidden";
  input.name = name;
  input.value = value;
  form.append(input);
}

function confirmBulk(action) {
  const n = chosen().length;
  const verb = action === "resolve" ? "Resolve" : "Acknowledge";
  const note = dialog.querySelector("[data-confirm-note]");
  const text = dialog.querySelector("[data-confirm-text]");
  const go = dialog.querySelector("[data-confirm-go]");
  const area = note.querySelector("textarea");
  dialog.querySelector("[data-confirm-title]").textContent =
    n ? `${verb} ${n} alert${n === 1 ? "" : "s"}?` : "No alert selected";
  text.textContent = n
    ? "Alerts that no longer allow it, or are not in your scope, are skipped and listed afterwards."
    : "Tick the alerts to act on first, or the box in the heading for the whole page.";
  note.hidden = !(n && action === "resolve");
  area.required = !note.hidden;
  go.hidden = !n;
  go.textContent = `${verb} ${n}`;
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "confirm" || !n) return;
    hidden("action", action);
    hidden("confirmed", "1");
    if (action === "resolve") hidden("note", area.value);
    form.submit();
  };
  dialog.showModal();
  (n ? (note.hidden ? go : area) : dialog.querySelector("button")).focus();
}

if (form) {
  form.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      for (const box of boxes()) box.checked = event.target.checked;
    }
    showCount();
  });
  if (dialog) {
    form.addEventListener("submit", (event) => {
      const action = event.submitter?.value;
      if (!event.submitter?.hasAttribute("data-bulk-action")) return;
      event.preventDefault();
      confirmBulk(action);
    });
    dialog.querySelector("form").addEventListener("submit", (event) => {
      const area = dialog.querySelector("[data-confirm-note] textarea");
      if (event.submitter?.value === "confirm" && area.required && !area.value.trim()) {
        event.preventDefault();
        area.setCustomValidity("Say how they were resolved.");
        area.reportValidity();
        area.addEventListener("input", () => area.setCustomValidity(""), { once: true });
      }
    });
  }
  showCount();
}
