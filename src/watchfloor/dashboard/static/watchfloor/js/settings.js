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
