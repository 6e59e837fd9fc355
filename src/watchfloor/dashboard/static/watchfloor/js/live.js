// The dashboard's WebSocket (/ws/dashboard/): connects, says hello, sends heartbeats, and
// reconnects with exponential back-off and jitter when the server or network drops it. The page
// is told `onLive(isReconnect)` each time the server has said hello, so it can resync everything
// it shows (events sent while it was away are not replayed: the resync is the catch-up).
// Protocol: docs/api.md, "WebSocket".

const HEARTBEAT_MS = 25000;
const MAX_BACKOFF_MS = 30000;
const FINAL_CODES = new Set([4401, 4403]); // signed out / not allowed: retrying cannot help

export class LiveConnection {
  constructor(path, { onMessage, onLive, onState }) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    this.onMessage = onMessage;
    this.onLive = onLive;
    this.onState = onState;
    this.attempt = 0;
    this.everLive = false;
    this.socket = null;
    this.timer = null;
    this.heartbeat = null;
    this.nextRequest = 1;
  }

  start() {
    this.onState("connecting", "Connecting…");
    this.socket = new WebSocket(this.url);
    this.socket.addEventListener("message", (e) => this.#receive(e));
    this.socket.addEventListener("close", (e) => this.#closed(e));
  }

  get isOpen() {
    return Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  /** Send a message; false when the socket is not open (the caller may use the REST API). */
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Send a message that expects an answer with the same request_id; resolves with it. */
  request(message, timeoutMs = 10000) {
    const id = `r${this.nextRequest++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("No answer from the server."));
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      if (!this.send({ ...message, request_id: id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error("Not connected."));
      }
    });
  }

  pending = new Map();

  #receive(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.request_id && this.pending.has(message.request_id)) {
      const settle = this.pending.get(message.request_id);
      this.pending.delete(message.request_id);
      settle(message);
      return;
    }
    if (message.type === "hello") {
      const reconnect = this.everLive;
      this.everLive = true;
      this.attempt = 0;
      this.onState("live", "Live");
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => this.send({ type: "heartbeat" }), HEARTBEAT_MS);
      this.onLive(reconnect);
      return;
    }
    if (message.type === "error" && FINAL_CODES.has(message.code)) return;
    this.onMessage(message);
  }

  #closed(event) {
    clearInterval(this.heartbeat);
    for (const settle of this.pending.values()) settle({ type: "error", message: "Disconnected." });
    this.pending.clear();
    if (FINAL_CODES.has(event.code)) {
      const text = event.code === 4401 ? "Signed out: reload to sign in" : "Live updates not allowed";
      this.onState("offline", text);
      return;
    }
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt);
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.attempt += 1;
    let left = Math.ceil(delay / 1000);
    this.onState("offline", `Reconnecting in ${left} s…`);
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      left -= 1;
      if (left > 0) this.onState("offline", `Reconnecting in ${left} s…`);
    }, 1000);
    setTimeout(() => {
      clearInterval(this.timer);
      this.start();
    }, delay);
  }
}
