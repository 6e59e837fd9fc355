// A new CRITICAL alert in view: a sound and a browser notification, each opt-in and saved per
// user (/api/v1/me/dashboard-settings), toggled by the two buttons in the page head.

import { apiFetch } from "../http.js";
import { $ } from "./dom.js";

let audio;

function beep() {
  audio = audio || new AudioContext();
  const now = audio.currentTime;
  for (const [i, freq] of [880, 660, 880].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + i * 0.18);
    gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.18);
    osc.stop(now + i * 0.18 + 0.17);
  }
}

export class CriticalAlarm {
  /** `prefs`: the user's dashboard settings (updated in place); `alertUrl(id)`; `say(text)`. */
  constructor(prefs, alertUrl, say) {
    Object.assign(this, { prefs, alertUrl, say });
    $("#toggle-sound").addEventListener("click", () => {
      const on = !prefs.critical_sound;
      if (on) beep(); // also unlocks audio for later alerts
      this.#save("critical_sound", on);
    });
    $("#toggle-notify").addEventListener("click", async () => {
      const on = !prefs.critical_browser_notification;
      if (on && "Notification" in window && Notification.permission !== "granted") {
        if ((await Notification.requestPermission()) !== "granted") {
          say("The browser did not allow notifications for this site.");
          return;
        }
      }
      this.#save("critical_browser_notification", on);
    });
    this.#show();
  }

  ring(row) {
    if (this.prefs.critical_sound) {
      try {
        beep();
      } catch {
        /* the browser blocks audio until the page was used once */
      }
    }
    if (this.prefs.critical_browser_notification && "Notification" in window && Notification.permission === "granted") {
      const body = [row.client_name, row.site_code, row.type].filter(Boolean).join(" · ");
      const note = new Notification(`CRITICAL: ${row.title}`, { body, tag: `alert-${row.id}` });
      note.onclick = () => {
        window.focus();
        location.href = this.alertUrl(row.id);
      };
    }
  }

  #show() {
    $("#toggle-sound").setAttribute("aria-pressed", String(Boolean(this.prefs.critical_sound)));
    $("#toggle-notify").setAttribute("aria-pressed", String(Boolean(this.prefs.critical_browser_notification)));
  }

  async #save(key, value) {
    try {
      Object.assign(this.prefs, await apiFetch("/api/v1/me/dashboard-settings", { method: "PATCH", body: { [key]: value } }));
    } catch (err) {
      this.say(`Could not save the setting: ${err.message}`);
    }
    this.#show();
  }
}
