// WebSocket signalling client (docs/protocol.md, version 1).
//
//   const sig = new SignalingClient();
//   await sig.connect();
//   const hello = await sig.request('hello', { protocol: 1 });
//   sig.on('queue.update', (event) => …);
//   sig.on('closed', ({ code, reason }) => …);
//
// request() resolves with the reply's `result` or rejects with a SignalingError whose
// `.code` is the protocol error code (catalog key `error.<code>`). There is no automatic
// reconnect: the page decides what to do after 'closed'.

export const PROTOCOL_VERSION = 1;
const REQUEST_TIMEOUT_MS = 20000;

export class SignalingError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'SignalingError';
    this.code = code;
    this.i18nKey = `error.${code}`;
  }
}

/** The protocol-style code of any error (DOMException codes are numbers: not ours). */
export function errorCode(err, fallback = 'internal_error') {
  if (err && typeof err.code === 'string') return err.code;
  if (err) console.warn('unexpected error', err);
  return fallback;
}

export function signalingUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}/ws`;
}

export class SignalingClient {
  constructor(url = signalingUrl()) {
    this.url = url;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.handlers = new Map(); // type -> Set(fn)
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Open the socket. Resolves when open; rejects with code 'connection_failed'. */
  connect() {
    if (this.ws) this.close();
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (err) {
        reject(new SignalingError('connection_failed', String(err)));
        return;
      }
      this.ws = ws;
      let opened = false;
      ws.addEventListener('open', () => {
        opened = true;
        resolve();
      });
      ws.addEventListener('message', (event) => this.#onMessage(event));
      ws.addEventListener('close', (event) => {
        if (this.ws !== ws) return; // an old socket replaced by connect()
        this.ws = null;
        this.#failPending('connection_closed');
        if (!opened) {
          reject(new SignalingError('connection_failed', `close ${event.code}`));
          return;
        }
        this.#emit('closed', { code: event.code, reason: event.reason });
      });
      // 'error' is always followed by 'close'; nothing to do here.
      ws.addEventListener('error', () => {});
    });
  }

  /** Send a request; resolves with `result`, rejects with SignalingError. */
  request(type, fields = {}) {
    if (!this.connected) {
      return Promise.reject(new SignalingError('connection_closed', 'not connected'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalingError('timeout', `${type} timed out`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.ws.send(JSON.stringify({ ...fields, id, type }));
      } catch (err) {
        window.clearTimeout(timer);
        this.pending.delete(id);
        reject(new SignalingError('connection_closed', String(err)));
      }
    });
  }

  /** Listen to gateway events by type ('queue.update', 'offer', …) or 'closed'/'error'. */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    const set = this.handlers.get(type);
    if (set) set.delete(fn);
  }

  /** Close on purpose. Does not emit 'closed'. */
  close() {
    const ws = this.ws;
    this.ws = null;
    this.#failPending('connection_closed');
    if (!ws) return;
    if (ws.readyState === WebSocket.CONNECTING) {
      // Closing a socket that is still connecting logs a browser warning; wait for it.
      ws.addEventListener('open', () => ws.close(1000));
    } else if (ws.readyState === WebSocket.OPEN) {
      ws.close(1000);
    }
  }

  #emit(type, event) {
    const set = this.handlers.get(type);
    if (!set) return;
    for (const fn of Array.from(set)) {
      try {
        fn(event);
      } catch (err) {
        console.error(`signalling handler for ${type} failed`, err);
      }
    }
  }

  #failPending(code) {
    const pending = Array.from(this.pending.values());
    this.pending.clear();
    for (const { reject, timer } of pending) {
      window.clearTimeout(timer);
      reject(new SignalingError(code, code));
    }
  }

  #onMessage(event) {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      console.warn('signalling: unreadable message from gateway');
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'result' || msg.type === 'error') {
      const entry = msg.id === null || msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!entry) {
        if (msg.type === 'error') {
          const err = msg.error || {};
          this.#emit('error', new SignalingError(err.code || 'internal_error', err.message));
        }
        return;
      }
      this.pending.delete(msg.id);
      window.clearTimeout(entry.timer);
      if (msg.type === 'result') {
        entry.resolve(msg.result || {});
      } else {
        const err = msg.error || {};
        entry.reject(new SignalingError(err.code || 'internal_error', err.message));
      }
      return;
    }
    if (typeof msg.type === 'string') this.#emit(msg.type, msg);
  }
}
