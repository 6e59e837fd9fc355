// The maintenance window form: times in the person's zone (the browser's when they chose none)
// and the "now + duration" choices, which make the two time inputs moot.
const form = document.querySelector(".window-form");

if (form) {
  const zone = form.elements.namedItem("zone");
  if (zone && !zone.value) {
    zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  }
  const times = ["starts_at", "ends_at"].map((name) => form.elements.namedItem(name));
  const lengths = form.querySelectorAll('input[name="length"]');
  const sync = () => {
    const chosen = form.querySelector('input[name="length"]:checked');
    const preset = chosen !== null && chosen.value !== "custom";
    for (const input of times) {
      if (input) {
        input.disabled = preset;
      }
    }
  };
  for (const radio of lengths) {
    radio.addEventListener("change", sync);
  }
  sync();
}
