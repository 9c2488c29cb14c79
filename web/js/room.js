// Shared parts of a call as a room of participants (docs/protocol.md): the resume token,
// automatic reconnection after a dropped socket, the page's peer connection for the call,
// and the list of who is on the line.
//
// The resume token lives only in sessionStorage (per tab, gone when the tab closes): never
// in a URL, a cookie, localStorage or a log line.

import { t, lang } from './i18n.js';
import { errorCode } from './signaling.js';
import { CallMedia, getMicrophone, stopStream } from './rtc.js';

export const GRACE_MS = 60000;
const BACKOFF_MS = [500, 1000, 2000, 4000];
const BACKOFF_MAX_MS = 5000;

/** One page's resume token in sessionStorage. */
export class TokenStore {
  constructor(key) {
    this.key = `tukilinja.resume.${key}`;
  }

  get() {
    try {
      return window.sessionStorage.getItem(this.key);
    } catch {
      return null;
    }
  }

  set(token) {
    if (typeof token !== 'string' || !token) return;
    try {
      window.sessionStorage.setItem(this.key, token);
    } catch {
      // Storage disabled: a reload cannot come back, a dropped socket still can (memory).
    }
    this.memory = token;
  }

  /** The stored token, or the one kept in memory when storage is unavailable. */
  current() {
    return this.get() || this.memory || null;
  }

  clear() {
    this.memory = null;
    try {
      window.sessionStorage.removeItem(this.key);
    } catch {
      // nothing stored
    }
  }
}

/** Delay before reconnection attempt `n` (0-based): 0.5 s, 1 s, 2 s, 4 s, then 5 s. */
export function backoffDelay(attempt) {
  return attempt < BACKOFF_MS.length ? BACKOFF_MS[attempt] : BACKOFF_MAX_MS;
}

const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });

// Errors after which trying again cannot help: the place or the call is gone.
export const FINAL_RESUME_ERRORS = new Set(['invalid_token', 'unknown_call']);

/**
 * Reconnect and resume until it works, a final error comes, `cancelled()` turns true or the
 * grace period (from `since`) runs out. `attempt()` connects, says hello and resumes; it
 * resolves with the resume result. Resolves with {result} or {code} (the last error).
 */
export async function reconnectLoop({ attempt, cancelled, since = Date.now(), graceMs = GRACE_MS }) {
  let n = 0;
  let lastCode = 'connection_lost';
  while (!cancelled()) {
    await sleep(backoffDelay(n));
    n += 1;
    if (cancelled()) break;
    try {
      return { result: await attempt() };
    } catch (err) {
      const code = err && typeof err.code === 'string' ? err.code : 'connection_failed';
      if (FINAL_RESUME_ERRORS.has(code)) return { code };
      lastCode = code;
    }
    if (Date.now() - since > graceMs) return { code: 'connection_lost', last: lastCode };
  }
  return { cancelled: true };
}

/** Can the peer connection be kept across a new socket (resume with keepMedia: true)? */
export function mediaKeepable(media) {
  return Boolean(media && !media.closed && media.pc.connectionState === 'connected'
    && media.pc.signalingState === 'stable');
}

/**
 * A page's media for its call: one CallMedia at a time (`current`, or null), replaced by a
 * fresh one after a reload or when the old one did not survive a dropped socket. The
 * callbacks of a CallMedia that is no longer current do nothing. The page's hooks:
 * - `signaling`; `state`, the page's state (`iceServers` from hello, `muted`,
 *   `reconnecting` while the socket is being re-established, `error` for the alert);
 *   `render()`;
 * - `inCall()`: is the page still where a fresh peer connection is for (queue or call);
 * - `abandon(code)`: the media failed: leave the call and say why;
 * - `onVideoFailure(code)`: sending video failed (a page that sends video);
 * - `onOpen()`: a new CallMedia is current;
 * - CallMedia's elements: `audioElement`, `videoContainer`, `previewElement`.
 */
export class CallMediaSlot {
  constructor({
    signaling, state, render, inCall, abandon, onVideoFailure = null, onOpen = null,
    audioElement, videoContainer = null, previewElement = null,
  }) {
    Object.assign(this, { signaling, state, render, inCall, abandon, onVideoFailure, onOpen });
    this.elements = { audioElement, videoContainer, previewElement };
    this.current = null;
  }

  /** A new CallMedia for the microphone `stream`, now the current one. */
  open(stream) {
    const current = new CallMedia({
      signaling: this.signaling,
      iceServers: this.state.iceServers,
      stream,
      ...this.elements,
      onVideoChange: () => {
        if (this.current === current) this.render();
      },
      onVideoFailure: this.onVideoFailure && ((code) => {
        if (this.current === current) this.onVideoFailure(code);
      }),
      onFailure: (code) => {
        if (this.current !== current) return;
        // A dropped socket is handled by reconnecting, not by ending the call.
        if (this.state.reconnecting || code === 'connection_closed') return;
        this.abandon(code);
      },
      onRenegotiationFailure: () => {
        if (this.current !== current) return;
        this.state.error = { code: 'renegotiation_failed' };
        this.render();
      },
    });
    if (this.state.muted) current.setMuted(true);
    this.current = current;
    if (this.onOpen) this.onOpen();
    return current;
  }

  /** Close the current CallMedia (idempotent). */
  close() {
    if (this.current) this.current.close();
    this.current = null;
  }

  /**
   * A fresh peer connection for the call: the microphone (`stream`, or asked for now), then
   * our offer; the gateway offers the others' media afterwards.
   */
  async fresh(stream = null) {
    this.close();
    let micStream = stream;
    if (!micStream) {
      try {
        micStream = await getMicrophone();
      } catch (err) {
        this.abandon(errorCode(err, 'microphone_unsupported'));
        return;
      }
    }
    if (!this.inCall() || this.current) {
      stopStream(micStream);
      return;
    }
    const current = this.open(micStream);
    try {
      await current.sendOffer();
    } catch (err) {
      if (this.current === current && !this.state.reconnecting && err && err.code !== 'connection_closed') {
        this.abandon(errorCode(err, 'media_failed'));
      }
    }
  }

  /**
   * Back in the place after a resume: the current peer connection when it was kept
   * (`kept`, resume with keepMedia), else a fresh one on `stream` (the microphone, when one
   * is ready; stopped when not needed).
   */
  async renew(kept, stream = null) {
    if (!kept || !this.current) await this.fresh(stream);
    else stopStream(stream);
  }
}

// ---- participants -----------------------------------------------------------------------

/** The language's name in the page's language ("arabia" / "Arabic"), via Intl.DisplayNames. */
export function languageName(code) {
  if (!code) return '';
  try {
    const names = new Intl.DisplayNames([lang()], { type: 'language' });
    const name = names.of(code);
    if (name && name !== code) return name;
  } catch {
    // Intl.DisplayNames missing or the tag is malformed: show the tag.
  }
  return code;
}

/**
 * How a participant is named: `form` 'who' starts a sentence ("The interpreter (Arabic)
 * joined the call."), 'list' labels a list item ("Interpreter (Arabic)").
 */
const NAME_KEYS = {
  list: {
    professional: 'room.list.professional',
    resident: 'room.list.resident',
    interpreter: 'room.list.interpreter',
    interpreterLanguage: 'room.list.interpreterLanguage',
    other: 'room.list.other',
  },
  who: {
    professional: 'room.who.professional',
    resident: 'room.who.resident',
    interpreter: 'room.who.interpreter',
    interpreterLanguage: 'room.who.interpreterLanguage',
    other: 'room.who.other',
  },
};

export function participantName(p, form = 'who') {
  if (!p) return '';
  const keys = form === 'list' ? NAME_KEYS.list : NAME_KEYS.who;
  if (p.role === 'interpreter' && p.language) {
    return t(keys.interpreterLanguage, { language: languageName(p.language) });
  }
  return t(keys[p.role] || keys.other);
}

const LEVEL_KEYS = { high: 'call.level.high', substantial: 'call.level.substantial' };

/** An identification level in words ("high"); an unknown one as it came. */
export function levelText(level) {
  return LEVEL_KEYS[level] ? t(LEVEL_KEYS[level]) : String(level || '');
}

export function participantStateText(p) {
  if (p.state === 'reconnecting') return t('room.state.reconnecting');
  if (p.state === 'joining') return t('room.state.joining');
  return t('room.state.connected');
}

/**
 * The participants of one call, keyed by id, updated from results and participant.* events.
 * `selfId` is the page's own participant (not listed).
 */
export class Roster {
  constructor() {
    this.selfId = null;
    this.callId = null;
    this.byId = new Map();
  }

  reset(callId = null, selfId = null, participants = []) {
    this.callId = callId;
    this.selfId = selfId;
    this.byId = new Map();
    for (const p of Array.isArray(participants) ? participants : []) this.put(p);
  }

  put(p) {
    if (!p || typeof p.id !== 'string') return null;
    if (p.state === 'left') {
      this.byId.delete(p.id);
      return p;
    }
    this.byId.set(p.id, { ...this.byId.get(p.id), ...p });
    return p;
  }

  remove(id) {
    this.byId.delete(id);
  }

  /** Everyone but the page's own participant, professional first, then residents, interpreters. */
  others() {
    const order = { professional: 0, resident: 1, interpreter: 2 };
    return Array.from(this.byId.values())
      .filter((p) => p.id !== this.selfId)
      .sort((a, b) => (order[a.role] ?? 3) - (order[b.role] ?? 3));
  }

  find(role) {
    return this.others().find((p) => p.role === role) || null;
  }

  /** Does the event belong to this call (events without callId are taken as ours)? */
  ours(event) {
    return !event.callId || !this.callId || event.callId === this.callId;
  }
}

/** Fill a <ul> with one <li> per other participant: "An interpreter (Arabic): connected". */
export function renderRoster(listEl, roster) {
  const others = roster.others();
  const items = others.map((p) => {
    const item = document.createElement('li');
    item.className = 'participant';
    item.dataset.role = p.role;
    item.dataset.state = p.state || 'connected';
    item.textContent = t('room.participantLine', {
      who: participantName(p, 'list'),
      state: participantStateText(p),
    });
    return item;
  });
  // Rebuild only when the text changes, so screen readers are not disturbed needlessly.
  const signature = items.map((i) => `${i.dataset.role}|${i.textContent}`).join('\n');
  if (listEl.dataset.signature !== signature) {
    listEl.replaceChildren(...items);
    listEl.dataset.signature = signature;
  }
  return others.length;
}

/** Plain words for why someone left ("left the call", "was removed", …). */
export function leftText(p, reason) {
  const who = participantName(p);
  const known = ['hangup', 'removed', 'timeout', 'media_failed', 'media_timeout'];
  const key = known.includes(reason) ? `room.left.${reason}` : 'room.left.other';
  return t(key, { who });
}

export function joinedText(p) {
  return t('room.joined', { who: participantName(p) });
}

export function reconnectingText(p) {
  return t('room.reconnectingOther', { who: participantName(p) });
}

export function backText(p) {
  return t('room.backOther', { who: participantName(p) });
}
