// Settings page: ticking "browser notification" asks the browser for permission right away
// (browsers only ask from a click), and says so when notifications are blocked.
const box = document.querySelector("[data-notification-permission]");
const state = document.querySelector("[data-notification-state]");

function show(text) {
  state.textContent = text;
  state.hidden = !text;
}

function describe() {
  if (!("Notification" in window)) {
    show("This browser does not show notifications; the setting applies where it does.");
  } else if (Notification.permission === "denied" && box.checked) {
    show("This browser blocks notifications from Watchfloor: allow them in the site settings.");
  } else {
    show("");
  }
}

if (box && state) {
  box.addEventListener("change", async () => {
    if (box.checked && "Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission();
    }
    describe();
  });
  describe();
}

// Time zone: offer the browser's own zone in one click (when the list knows it).
const zoneButton = document.querySelector("[data-browser-zone]");
const zoneSelect = document.querySelector("select[name='time_zone']");
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (zoneButton && zoneSelect && browserZone && zoneSelect.querySelector(`option[value="${CSS.escape(browserZone)}"]`)) {
  zoneButton.textContent = `Use this browser's zone (${browserZone.replaceAll("_", " ")})`;
  zoneButton.hidden = false;
  zoneButton.addEventListener("click", () => {
    zoneSelect.value = browserZone;
    zoneSelect.focus();
  });
}
