// Escalation policy form: a filter box above each long list of people (or schedules, channels),
// so one person is found among hundreds without scrolling. Ticked entries always stay visible.
// Without this module the lists still work: it only hides rows while a filter is typed.
const MIN_ROWS = 8;

function addFilter(list) {
  const rows = [...list.querySelectorAll("label.check")];
  if (rows.length < MIN_ROWS) return;
  const heading = document.getElementById(list.getAttribute("aria-labelledby"));
  const input = document.createElement("input");
  input.type = "search";
  input.className = "target-filter";
  input.placeholder = "Filter…";
  input.setAttribute("aria-label", `Filter: ${heading ? heading.textContent : "list"}`);
  input.setAttribute("aria-controls", list.id);
  const count = document.createElement("span");
  count.className = "sub target-filter__count";
  count.setAttribute("aria-live", "polite");
  list.before(input);
  list.after(count);
  const apply = () => {
    const words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const text = row.textContent.toLowerCase();
      const ticked = row.querySelector("input").checked;
      const match = ticked || words.every((w) => text.includes(w));
      row.hidden = !match;
      if (match) shown += 1;
    }
    count.textContent = words.length ? `${shown} of ${rows.length} shown` : "";
  };
  input.addEventListener("input", apply);
  // Enter in the filter must not submit the form
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault();
  });
}

document.querySelectorAll("#policy-form .checks--scroll").forEach(addFilter);
