// Professional console: the queues of one's own service lines and answering callers; in a
// call, asking the resident to identify strongly and, once identified, asking for video
// (docs/protocol.md, `identify.*`, `video.*`).
//
// The resident's identity lives only in `state.stepup.identity` and the call view's list
// while the call lasts: never in storage, a log line or the page after the call.

import {
  initI18n, onLanguageChange, t, lang, describeLineStatus, formatQueueLength, formatLineWait,
  errorMessage, formatDuration, formatDate,
} from './i18n.js';
import { SignalingClient, PROTOCOL_VERSION, errorCode } from './signaling.js';
import { showDemo, checkDemo } from './demo.js';
import { getMicrophone, stopStream } from './rtc.js';
import {
  TokenStore, Roster, renderRoster, reconnectLoop, FINAL_RESUME_ERRORS, mediaKeepable, joinedText, leftText,
  reconnectingText, backText, languageName, levelText, CallMediaSlot,
} from './room.js';
import { VideoArea, cameraControl, purposeLabel, videoOffKey } from './video.js';

// Languages an interpreter can be invited for (BCP 47), shown by Intl.DisplayNames.
const INTERPRETER_LANGUAGES = ['fi', 'sv', 'en', 'ru', 'ar', 'uk', 'so'];

const $ = (id) => document.getElementById(id);
const videoArea = new VideoArea($('video-box'), { caption: 'pro.video.remote', selfView: true });
const els = {
  status: $('status'),
  alert: $('alert'),
  alertText: $('alert-text'),
  signedOut: $('signed-out'),
  console: $('console'),
  greeting: $('greeting'),
  signout: $('signout-button'),
  retryRow: $('retry-row'),
  retry: $('retry-button'),
  queueView: $('queue-view'),
  noLines: $('no-lines'),
  cards: $('line-cards'),
  callView: $('call-view'),
  timer: $('call-timer'),
  hangup: $('hangup-button'),
  mute: $('mute-button'),
  audio: $('remote-audio'),
  participants: $('participants'),
  participantsBox: $('participants-box'),
  notice: $('call-notice'),
  invite: $('invite-button'),
  inviteForm: $('invite-form'),
  inviteLanguage: $('invite-language'),
  createLink: $('create-link-button'),
  inviteResult: $('invite-result'),
  inviteInfo: $('invite-info'),
  inviteLink: $('invite-link'),
  copyLink: $('copy-link-button'),
  removeInterpreter: $('remove-interpreter-button'),
  rejoinView: $('rejoin-view'),
  rejoinList: $('rejoin-list'),
  available: $('available-button'),
  away: $('away-button'),
  sound: $('sound-toggle'),
  wrapup: $('wrapup'),
  wrapupText: $('wrapup-text'),
  ready: $('ready-button'),
  stepupHeading: $('stepup-heading'),
  identifiedBadge: $('identified-badge'),
  identity: $('identity'),
  identifyState: $('identify-state'),
  identify: $('identify-button'),
  videoForm: $('video-form'),
  videoPurpose: $('video-purpose'),
  requestVideo: $('request-video-button'),
  videoState: $('video-state'),
  videoRequestRow: $('video-request-row'),
  cancelVideo: $('cancel-video-button'),
  remoteVideo: videoArea.remote,
  localVideo: videoArea.self,
  stopVideo: videoArea.stop,
};
const SOUND_KEY = 'tukilinja.pro.sound';

// phase: loading | signedout | ready | answering | resuming | incall | disconnected
// `reconnecting` is true while in a call and the socket is being re-established.
const state = {
  phase: 'loading',
  me: null, // {name, lines}
  names: {}, // line id -> display name
  lines: new Map(), // line id -> {status, card elements}
  iceServers: [],
  call: null, // {callId, line, startedAt}
  muted: false,
  message: null, // {key, params} for the status region
  error: null, // {code}
  reconnecting: false,
  participantId: null,
  rejoinable: [], // [{callId, line}] from hello's staff.calls
  inviteOpen: false,
  invite: null, // {url, language, expiresAt}
  inviting: false,
  notice: '',
  lastLeft: null, // {participant, reason, by}: explains a following call.ended
  available: true, // this console's Available / Away status (staff.status)
  wrapupSeconds: 30, // from hello's staff.wrapupSeconds
  wrapupUntil: 0, // Date.now() until which the console is in wrap-up after a call
  wrapupLine: null,
  queues: new Map(), // line id -> {waiting: [{id, position, waitedSeconds}], at, staffAvailable, staffAway}
  stepup: freshStepUp(), // identification and video in the current call
};

// Identification and video of one call; replaced by a fresh one when the call ends.
function freshStepUp() {
  return {
    identify: 'none', // none | waiting | failed | identified
    failed: null, // the code of the last identify.failed
    identity: null, // {name, code, birthdate, level, provider}: this call only
    level: null, // the level alone (after a rejoin the identity itself is not sent again)
    error: null, // the last refused request's code, shown by its button
    requesting: false, // identify.request or video.request on its way
    video: 'off', // off | requested | on, as the gateway's video.state says
    purpose: null,
    videoMessage: null, // why video went off, shown until it changes again
    camera: 'off', // off | starting | on
  };
}

const IDENTIFY_FAILED_KEYS = {
  cancelled: 'pro.identify.failed.cancelled',
  level_too_low: 'pro.identify.failed.level_too_low',
  expired: 'pro.identify.failed.expired',
  failed: 'pro.identify.failed.failed',
};
const VIDEO_OFF_KEYS = {
  declined: 'pro.video.off.declined',
  withdrawn: 'pro.video.off.withdrawn',
  stopped: 'pro.video.off.stopped',
};

const sig = new SignalingClient();
let focusAfterRender = null;
const tokens = new TokenStore('pro');
const roster = new Roster();
let reconnectGeneration = 0;
const camera = cameraControl({
  state, media: () => callMedia.current, render, signaling: sig, stopsRequest: true,
});
const callMedia = new CallMediaSlot({
  signaling: sig, state, render, abandon: abandonCall, onVideoFailure: camera.failed,
  inCall: () => state.phase === 'incall',
  audioElement: els.audio, videoContainer: els.remoteVideo, previewElement: els.localVideo,
});

function lineName(id) {
  return state.names[id] || id;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// ---- rendering ---------------------------------------------------------------------------

function buildCard(id) {
  const item = document.createElement('li');
  const article = document.createElement('article');
  article.className = 'card line-card';
  const heading = document.createElement('h3');
  heading.id = `line-card-${els.cards.children.length + 1}-heading`;
  heading.className = 'line-card-name';
  article.setAttribute('aria-labelledby', heading.id);
  const stateRow = document.createElement('p');
  stateRow.className = 'line-state';
  const badge = document.createElement('span');
  badge.className = 'badge';
  const detail = document.createElement('span');
  stateRow.append(badge, ' ', detail);
  const queue = document.createElement('p');
  queue.className = 'queue-length';
  const wait = document.createElement('p');
  const waiting = document.createElement('ul');
  waiting.className = 'waiting-list';
  waiting.setAttribute('role', 'list');
  waiting.id = `line-card-${els.cards.children.length + 1}-waiting`;
  waiting.setAttribute('aria-label', t('pro.waitingList', { line: lineName(id) }));
  const colleagues = document.createElement('p');
  colleagues.className = 'colleagues';
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn btn-primary';
  button.dataset.line = id;
  button.addEventListener('click', () => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    answerNext(id);
  });
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.append(button);
  article.append(heading, stateRow, queue, wait, waiting, colleagues, actions);
  item.append(article);
  return { item, heading, badge, detail, queue, wait, waiting, colleagues, button };
}

function statusMessage() {
  if (state.phase === 'loading') return t('pro.loading');
  if (state.phase === 'answering') return t('pro.answering');
  if (state.phase === 'resuming') return t('pro.resuming');
  if (state.phase === 'incall' && state.call) {
    if (state.reconnecting) return t('pro.reconnecting');
    return t('pro.inCall', { line: lineName(state.call.line) });
  }
  if (state.message) {
    if (state.message.text) return state.message.text;
    return t(state.message.key, state.message.params || {});
  }
  return '';
}

function fillLanguageOptions() {
  const chosen = els.inviteLanguage.value;
  const options = INTERPRETER_LANGUAGES.map((code) => {
    const option = document.createElement('option');
    option.value = code;
    option.textContent = languageName(code);
    return option;
  });
  els.inviteLanguage.replaceChildren(...options);
  if (chosen) els.inviteLanguage.value = chosen;
}

function renderRejoin() {
  const calls = state.phase === 'ready' ? state.rejoinable : [];
  els.rejoinView.hidden = calls.length === 0;
  const signature = calls.map((c) => `${c.callId}|${lineName(c.line)}`).join('\n')
    + `|${document.documentElement.lang}`;
  if (els.rejoinList.dataset.signature === signature) return;
  els.rejoinList.dataset.signature = signature;
  els.rejoinList.replaceChildren(...calls.map((call, index) => {
    const item = document.createElement('li');
    item.className = 'rejoin-item';
    const text = document.createElement('p');
    text.id = `rejoin-${index + 1}-text`;
    text.textContent = call.line ? t('pro.rejoinLine', { line: lineName(call.line) })
      : t('pro.rejoinUnknownLine');
    const rejoin = document.createElement('button');
    rejoin.type = 'button';
    rejoin.className = 'btn btn-primary';
    rejoin.textContent = t('pro.rejoin');
    rejoin.setAttribute('aria-describedby', text.id);
    rejoin.addEventListener('click', () => {
      rejoinCall(call);
    });
    item.append(text, rejoin);
    return item;
  }));
}

// How long a caller has waited, counted on locally from the gateway's waitedSeconds.
function formatWaited(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const minutes = Math.floor(s / 60);
  try {
    const unit = (u, n) => new Intl.NumberFormat([lang()], { style: 'unit', unit: u, unitDisplay: 'long' })
      .format(n);
    return minutes < 1 ? unit('second', s) : unit('minute', minutes);
  } catch {
    return minutes < 1 ? `${s} s` : `${minutes} min`;
  }
}

function waitingCount(id) {
  const queue = state.queues.get(id);
  if (queue) return queue.waiting.length;
  const entry = state.lines.get(id);
  return entry && entry.status ? Number(entry.status.queueLength) || 0 : 0;
}

function totalWaiting() {
  let total = 0;
  for (const id of state.lines.keys()) total += waitingCount(id);
  return total;
}

function inWrapup() {
  return state.wrapupUntil > Date.now();
}

function renderWaiting(id, card) {
  const queue = state.queues.get(id);
  const waiting = queue ? queue.waiting : [];
  const elapsed = queue ? (Date.now() - queue.at) / 1000 : 0;
  let texts = waiting.map((w, index) => t('pro.waitingItem', {
    position: w.position || index + 1,
    waited: formatWaited((Number(w.waitedSeconds) || 0) + elapsed),
  }));
  if (!queue) {
    // A gateway without staff.queue: one item per caller, without waiting times.
    texts = Array.from({ length: waitingCount(id) }, (_, index) => t('pro.waitingItemPlain', {
      position: index + 1,
    }));
  }
  const signature = texts.join('\n');
  if (card.waiting.dataset.signature !== signature) {
    card.waiting.dataset.signature = signature;
    card.waiting.replaceChildren(...texts.map((text) => {
      const item = document.createElement('li');
      item.textContent = text;
      return item;
    }));
  }
  card.waiting.hidden = texts.length === 0;
  card.waiting.setAttribute('aria-label', t('pro.waitingList', { line: lineName(id) }));
  let colleagues = '';
  if (queue) {
    const available = Math.max(0, (Number(queue.staffAvailable) || 0) - (state.available ? 1 : 0));
    const away = Math.max(0, (Number(queue.staffAway) || 0) - (state.available ? 0 : 1));
    colleagues = t('pro.colleagues', { available, away });
  }
  setText(card.colleagues, colleagues);
  card.colleagues.hidden = !colleagues;
}

function render() {
  const phase = state.phase;
  const waitingNow = totalWaiting();
  document.title = waitingNow > 0 && state.me && phase !== 'signedout'
    ? t('pro.titleWaiting', { count: waitingNow }) : t('pro.title');
  els.signedOut.hidden = phase !== 'signedout';
  els.console.hidden = phase === 'signedout' || phase === 'loading' || !state.me;
  setText(els.greeting, state.me ? t('pro.greeting', { name: state.me.name }) : '');
  els.retryRow.hidden = phase !== 'disconnected';

  const inCall = phase === 'incall';
  els.queueView.hidden = false;
  els.available.setAttribute('aria-pressed', String(state.available));
  els.away.setAttribute('aria-pressed', String(!state.available));
  els.available.disabled = !sig.connected;
  els.away.disabled = !sig.connected;
  const wrapping = phase === 'ready' && inWrapup();
  els.wrapup.hidden = !wrapping;
  setText(els.wrapupText, wrapping ? t('pro.wrapup', {
    seconds: Math.ceil((state.wrapupUntil - Date.now()) / 1000),
  }) : '');
  els.callView.hidden = !inCall;
  els.noLines.hidden = !(state.me && state.me.lines.length === 0);

  for (const [id, entry] of state.lines) {
    const { card, status } = entry;
    setText(card.heading, lineName(id));
    const described = describeLineStatus(status);
    setText(card.badge, status ? described.label : '');
    card.badge.dataset.state = described.state;
    setText(card.detail, described.detail);
    setText(card.queue, status ? formatQueueLength(status.queueLength) : '');
    setText(card.wait, described.state === 'open' ? formatLineWait(status) : '');
    setText(card.button, t('pro.answerNext'));
    renderWaiting(id, card);
    const waiting = waitingCount(id) > 0;
    // aria-disabled, not disabled: the button keeps focus after a call (wrap-up).
    const usable = waiting && phase === 'ready' && sig.connected && state.available && !inWrapup();
    card.button.setAttribute('aria-disabled', String(!usable));
    card.button.setAttribute('aria-busy', String(phase === 'answering'));
  }
  renderRejoin();

  if (inCall && state.call) {
    setText(els.timer, t('call.duration', {
      duration: formatDuration((Date.now() - state.call.startedAt) / 1000),
    }));
  }
  const listed = inCall && state.call ? renderRoster(els.participants, roster) : 0;
  els.participantsBox.hidden = listed === 0;
  setText(els.notice, inCall ? state.notice : '');
  els.mute.setAttribute('aria-pressed', String(state.muted));
  setText(els.mute, state.muted ? t('call.unmute') : t('call.mute'));

  const interpreter = inCall ? roster.find('interpreter') : null;
  const online = sig.connected && !state.reconnecting;
  els.invite.hidden = !inCall || Boolean(interpreter);
  els.invite.setAttribute('aria-expanded', String(state.inviteOpen));
  els.invite.disabled = !online;
  els.inviteForm.hidden = !inCall || Boolean(interpreter) || !state.inviteOpen;
  els.createLink.disabled = !online || state.inviting;
  els.createLink.setAttribute('aria-busy', String(state.inviting));
  els.inviteResult.hidden = !inCall || Boolean(interpreter) || !state.invite;
  if (state.invite) {
    setText(els.inviteInfo, t('pro.inviteCreated', {
      language: languageName(state.invite.language),
      time: formatExpiry(state.invite.expiresAt),
    }));
    setText(els.inviteLink, state.invite.url);
  } else {
    setText(els.inviteLink, '');
  }
  els.removeInterpreter.hidden = !interpreter;
  els.removeInterpreter.disabled = !online;
  const activeBefore = document.activeElement;
  renderStepUp(inCall, online);
  keepStepUpFocus(activeBefore);

  setText(els.status, statusMessage());
  if (state.error) {
    setText(els.alertText, errorMessage(state.error.code));
    els.alert.hidden = false;
  } else {
    els.alert.hidden = true;
    setText(els.alertText, '');
  }

  if (focusAfterRender) {
    const target = focusAfterRender();
    if (target && !target.hidden && !target.disabled && !target.closest('[hidden]')) {
      target.focus();
    }
    focusAfterRender = null;
  }
}

// The identity as a definition list: only the fields the gateway gave (after a rejoin the
// level alone). Rebuilt only when it changes; emptied when the call ends.
function renderIdentity(s) {
  const rows = [];
  const identity = s.identity || {};
  if (identity.name) rows.push(['pro.identify.name', identity.name]);
  if (identity.code) rows.push(['pro.identify.code', identity.code]);
  if (identity.birthdate) rows.push(['pro.identify.birthdate', formatDate(identity.birthdate)]);
  const level = identity.level || s.level;
  if (level) rows.push(['pro.identify.level', levelText(level)]);
  if (identity.provider) rows.push(['pro.identify.provider', identity.provider]);
  const signature = rows.map(([key, value]) => `${t(key)}|${value}`).join('\n');
  if (els.identity.dataset.signature !== signature) {
    els.identity.dataset.signature = signature;
    els.identity.replaceChildren(...rows.flatMap(([key, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = t(key);
      const dd = document.createElement('dd');
      dd.textContent = value;
      return [dt, dd];
    }));
  }
  if (!rows.length) delete els.identity.dataset.signature;
  els.identity.hidden = rows.length === 0;
}

function identifyStateText(s) {
  if (s.error === 'identification_unavailable') return errorMessage(s.error);
  if (s.identify === 'waiting') return t('pro.identify.waiting');
  if (s.identify === 'failed') return t(IDENTIFY_FAILED_KEYS[s.failed] || IDENTIFY_FAILED_KEYS.failed);
  if (s.identify === 'identified') return '';
  return t('pro.identify.anonymous');
}

function videoStateText(s) {
  if (s.error === 'not_identified') return errorMessage(s.error);
  if (s.video === 'requested') return t('pro.video.waiting');
  if (s.video === 'on') {
    return t('pro.video.on', { purpose: purposeLabel(s.purpose) });
  }
  return s.videoMessage ? t(s.videoMessage) : '';
}

function renderStepUp(inCall, online) {
  const s = state.stepup;
  const identified = inCall && s.identify === 'identified';
  els.identifiedBadge.hidden = !identified;
  renderIdentity(inCall ? s : freshStepUp());
  setText(els.identifyState, inCall ? identifyStateText(s) : '');
  // Not disabled while a request is on its way (a disabled button loses focus): the
  // handlers ignore a second press.
  els.identify.hidden = !inCall || identified;
  els.identify.disabled = !online;
  els.identify.setAttribute('aria-busy', String(s.requesting));

  els.videoForm.hidden = !identified || s.video !== 'off';
  els.requestVideo.disabled = !online;
  els.requestVideo.setAttribute('aria-busy', String(s.requesting));
  setText(els.videoState, inCall ? videoStateText(s) : '');
  els.videoRequestRow.hidden = !inCall || s.video !== 'requested';
  els.cancelVideo.disabled = !online;

  videoArea.render(inCall && s.video === 'on', callMedia.current);
}

// Focus that was on a control of identification or video that went away (the request
// sent, the video on or off, identified) moves to the control that replaced it.
function keepStepUpFocus(activeBefore) {
  const tools = els.stepupHeading.parentElement;
  if (!activeBefore || !tools.contains(activeBefore)) return;
  const shown = (el) => el.isConnected && !el.disabled && !el.closest('[hidden]');
  const active = document.activeElement;
  if (active && active !== document.body && shown(active)) return;
  const next = [els.stopVideo, els.cancelVideo, els.requestVideo, els.identify].find(shown);
  (next || els.stepupHeading).focus();
}

function formatExpiry(iso) {
  const at = Date.parse(iso || '');
  if (!Number.isFinite(at)) return '';
  try {
    return new Intl.DateTimeFormat([lang()], { hour: '2-digit', minute: '2-digit' })
      .format(new Date(at));
  } catch {
    return String(iso);
  }
}

// ---- data --------------------------------------------------------------------------------

async function loadNames() {
  try {
    const response = await fetch(`/api/lines?lang=${encodeURIComponent(lang())}`, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) return;
    const body = await response.json();
    for (const line of body.lines || []) state.names[line.id] = line.name;
    showDemo(body.demoIdentification);
  } catch (err) {
    console.warn('could not load line names', err);
  }
}

async function loadMe() {
  const response = await fetch('/api/staff/me', {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const me = await response.json();
  return { name: me.name, lines: Array.isArray(me.lines) ? me.lines : [] };
}

function normaliseCalls(calls) {
  if (!Array.isArray(calls)) return [];
  return calls.map((c) => (typeof c === 'string' ? { callId: c, line: null }
    : { callId: c && (c.callId || c.id), line: (c && c.line) || null }))
    .filter((c) => typeof c.callId === 'string' && c.callId);
}

function readStaffHello(staff) {
  if (staff && Number.isFinite(Number(staff.wrapupSeconds))) {
    state.wrapupSeconds = Math.max(0, Number(staff.wrapupSeconds));
  }
}

function putQueue(queue) {
  if (!queue || typeof queue.line !== 'string' || !state.lines.has(queue.line)) return;
  const before = waitingCount(queue.line);
  const beforeTotal = totalWaiting();
  state.queues.set(queue.line, {
    waiting: Array.isArray(queue.waiting) ? queue.waiting : [],
    at: Date.now(),
    staffAvailable: queue.staffAvailable,
    staffAway: queue.staffAway,
  });
  queueChanged(queue.line, before, beforeTotal);
}

// A caller arrived on an empty queue: a sound (unless turned off) and the status text; a
// message about waiting callers goes when the queue is empty again.
function queueChanged(id, before, beforeTotal) {
  const now = waitingCount(id);
  if (before === 0 && now > 0) {
    if (state.phase === 'ready') {
      state.message = { key: 'pro.callerWaiting', params: { line: lineName(id) } };
    }
    if (beforeTotal === 0) beep();
  }
  if (state.message && state.message.key === 'pro.callerWaiting' && totalWaiting() === 0) {
    state.message = null;
  }
}

let audioContext = null;
function beep() {
  if (!els.sound.checked) return;
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    audioContext = audioContext || new Context();
    const osc = audioContext.createOscillator();
    const gain = audioContext.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audioContext.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, audioContext.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audioContext.currentTime + 0.4);
    osc.connect(gain).connect(audioContext.destination);
    osc.start();
    osc.stop(audioContext.currentTime + 0.45);
  } catch {
    // No sound where Web Audio is unavailable; the title still changes.
  }
}

async function setAvailable(available) {
  state.available = available;
  render();
  try {
    const result = await sig.request('staff.status', { available });
    if (result && typeof result.available === 'boolean') state.available = result.available;
  } catch (err) {
    if (err && err.code !== 'connection_closed') state.error = { code: errorCode(err, 'internal_error') };
  }
  render();
}

async function watchLines(lines) {
  for (const id of lines) {
    if (!state.lines.has(id)) {
      const card = buildCard(id);
      els.cards.append(card.item);
      state.lines.set(id, { card, status: null });
    }
    try {
      const watched = await sig.request('line.watch', { line: id });
      state.lines.get(id).status = watched.status;
      if (watched.queue) putQueue(watched.queue);
    } catch (err) {
      if (err && err.code === 'connection_closed') throw err;
      console.warn(`could not watch line ${id}`, err);
    }
  }
}

async function connect() {
  try {
    await sig.connect();
    const hello = await sig.request('hello', { protocol: PROTOCOL_VERSION });
    if (hello.role !== 'staff') {
      // The session cookie is missing or expired.
      sig.close();
      tokens.clear();
      state.phase = 'signedout';
      render();
      return;
    }
    state.iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
    const lines = hello.staff && Array.isArray(hello.staff.lines) ? hello.staff.lines : state.me.lines;
    state.me.lines = lines;
    state.rejoinable = normaliseCalls(hello.staff && hello.staff.calls);
    readStaffHello(hello.staff);
    await watchLines(lines);
    if (!state.available) await setAvailable(false);
    state.phase = 'ready';
    state.error = null;
  } catch (err) {
    if (state.phase === 'signedout') return;
    sig.close();
    state.phase = 'disconnected';
    state.error = { code: 'connection_failed' };
    render();
    return;
  }
  render();
  if (tokens.get()) await resumeStored();
}

// ---- call --------------------------------------------------------------------------------

function endCall() {
  callMedia.close();
  if (state.call) {
    const ended = state.call.callId;
    state.rejoinable = state.rejoinable.filter((c) => c.callId !== ended);
  }
  state.call = null;
  state.muted = false;
  state.reconnecting = false;
  state.participantId = null;
  state.inviteOpen = false;
  state.invite = null;
  state.inviting = false;
  state.notice = '';
  state.lastLeft = null;
  state.stepup = freshStepUp();
  els.identity.replaceChildren();
  delete els.identity.dataset.signature;
  roster.reset();
  reconnectGeneration += 1;
}

// In the call as `result` says (staff.answer_next, call.rejoin or resume).
async function enterCall(result, { keptMedia = false, stream = null } = {}) {
  tokens.set(result.resumeToken);
  const sameCall = state.phase === 'incall' && state.call && state.call.callId === result.callId;
  state.participantId = result.participantId || state.participantId;
  state.call = {
    callId: result.callId || null,
    line: result.line || (state.call && state.call.line) || null,
    startedAt: sameCall ? state.call.startedAt : Date.now(),
  };
  state.rejoinable = state.rejoinable.filter((c) => c.callId !== result.callId);
  roster.reset(state.call.callId, state.participantId, result.participants);
  if (!sameCall) state.stepup = freshStepUp();
  restoreStepUp(result);
  state.phase = 'incall';
  state.error = null;
  state.message = null;
  if (!sameCall) focusAfterRender = () => els.hangup;
  state.wrapupUntil = 0;
  render();
  // The kept peer connection, or a new one (after answering, rejoining, a reload, or when
  // the old one did not survive a drop).
  await callMedia.renew(keptMedia, stream);
  // A fresh peer connection carries the camera again when video is on.
  if (state.phase === 'incall' && state.stepup.video === 'on') camera.start();
}

// In a call again (rejoin, resume): whether the resident is identified (the level; the
// identity itself came only with participant.identified), and the call's video.
function restoreStepUp(result) {
  const s = state.stepup;
  const resident = (Array.isArray(result.participants) ? result.participants : [])
    .find((p) => p && p.role === 'resident');
  if (resident && resident.identified) {
    s.identify = 'identified';
    s.level = resident.identified;
  }
  const video = result.video || { state: 'off', purpose: null };
  applyVideoState({ state: video.state, purpose: video.purpose }, { quiet: true, startCamera: false });
}

async function answerNext(id) {
  if (state.phase !== 'ready') return;
  state.phase = 'answering';
  state.error = null;
  state.message = null;
  render();

  let stream;
  try {
    stream = await getMicrophone();
  } catch (err) {
    state.phase = 'ready';
    state.error = { code: errorCode(err, 'microphone_unsupported') };
    render();
    return;
  }
  if (state.phase !== 'answering') {
    stopStream(stream);
    return;
  }

  let answered;
  try {
    answered = await sig.request('staff.answer_next', { line: id });
  } catch (err) {
    stopStream(stream);
    if (state.phase !== 'answering') return;
    state.phase = 'ready';
    state.error = { code: errorCode(err, 'internal_error') };
    const entry = state.lines.get(id);
    focusAfterRender = () => (entry ? entry.card.button : null);
    render();
    return;
  }
  if (state.phase !== 'answering') {
    stopStream(stream);
    return;
  }
  await enterCall({ line: id, ...answered }, { stream });
}

async function rejoinCall(call) {
  if (state.phase !== 'ready') return;
  state.phase = 'answering';
  state.error = null;
  state.message = null;
  render();
  let stream;
  try {
    stream = await getMicrophone();
  } catch (err) {
    state.phase = 'ready';
    state.error = { code: errorCode(err, 'microphone_unsupported') };
    render();
    return;
  }
  let result;
  try {
    result = await sig.request('call.rejoin', { callId: call.callId });
  } catch (err) {
    stopStream(stream);
    if (state.phase !== 'answering') return;
    const code = errorCode(err, 'internal_error');
    if (code === 'unknown_call' || code === 'forbidden') {
      state.rejoinable = state.rejoinable.filter((c) => c.callId !== call.callId);
    }
    state.phase = 'ready';
    state.error = { code };
    const first = state.lines.values().next().value;
    focusAfterRender = () => (first ? first.card.button : null);
    render();
    return;
  }
  if (state.phase !== 'answering') {
    stopStream(stream);
    return;
  }
  await enterCall({ line: call.line, ...result }, { stream });
}

// After a page load with a stored token: back into the call with a new peer connection.
async function resumeStored() {
  const token = tokens.get();
  if (!token || state.phase !== 'ready') return;
  state.phase = 'resuming';
  render();
  // The microphone first: the new peer connection must exist as soon as the call is back.
  let stream;
  try {
    stream = await getMicrophone();
  } catch (err) {
    state.phase = 'ready';
    state.error = { code: errorCode(err, 'microphone_unsupported') };
    render();
    return;
  }
  let result;
  try {
    result = await sig.request('resume', { token, keepMedia: false });
  } catch (err) {
    stopStream(stream);
    const code = errorCode(err, 'internal_error');
    if (code === 'connection_closed' || code === 'timeout') {
      state.phase = 'disconnected';
      state.error = { code: 'connection_failed' };
    } else {
      tokens.clear();
      state.phase = 'ready';
      state.message = FINAL_RESUME_ERRORS.has(code) ? { key: 'pro.previousEnded' } : null;
      state.error = FINAL_RESUME_ERRORS.has(code) ? null : { code };
    }
    render();
    return;
  }
  await enterCall(result, { stream });
}

// The socket dropped in a call: keep the peer connection, connect again with a capped
// backoff for the grace period and resume.
async function reconnect() {
  if (state.reconnecting) return;
  state.reconnecting = true;
  state.error = null;
  render();
  const generation = ++reconnectGeneration;
  let signedOut = false;
  let spare = null;
  const outcome = await reconnectLoop({
    cancelled: () => generation !== reconnectGeneration || signedOut,
    attempt: async () => {
      await sig.connect();
      const hello = await sig.request('hello', { protocol: PROTOCOL_VERSION });
      if (hello.role !== 'staff') {
        signedOut = true;
        throw Object.assign(new Error('signed out'), { code: 'unauthorized' });
      }
      state.iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
      const keepMedia = mediaKeepable(callMedia.current);
      // Without the old peer connection, the microphone is ready before the resume, so
      // the new connection exists before the gateway's first offer event can arrive.
      if (!keepMedia && !spare) spare = await getMicrophone();
      const result = await sig.request('resume', { token: tokens.current(), keepMedia });
      return { result, keepMedia, hello };
    },
  });
  if (generation !== reconnectGeneration || !outcome.result) stopStream(spare);
  if (generation !== reconnectGeneration) return;
  state.reconnecting = false;
  if (outcome.result) {
    const { result, keepMedia, hello } = outcome.result;
    state.rejoinable = normaliseCalls(hello.staff && hello.staff.calls);
    await enterCall(result, { keptMedia: keepMedia, stream: spare });
    watchLines(state.me ? state.me.lines : []).then(render).catch(() => {});
    return;
  }
  if (signedOut) {
    endCall();
    tokens.clear();
    sig.close();
    state.phase = 'signedout';
    render();
    return;
  }
  const final = FINAL_RESUME_ERRORS.has(outcome.code);
  endCall();
  tokens.clear();
  if (final && sig.connected) {
    state.phase = 'loading';
    render();
    await connect();
    state.message = { key: 'pro.callLostWhileAway' };
    render();
    return;
  }
  sig.close();
  state.phase = 'disconnected';
  state.message = null;
  state.error = { code: 'connection_lost' };
  focusAfterRender = () => els.retry;
  render();
}

function backToQueue(message, error = null) {
  const line = state.call ? state.call.line : null;
  const hadCall = Boolean(state.call);
  endCall();
  if (hadCall && state.wrapupSeconds > 0) {
    state.wrapupUntil = Date.now() + state.wrapupSeconds * 1000;
    state.wrapupLine = line;
    }
  tokens.clear();
  state.phase = sig.connected ? 'ready' : 'disconnected';
  state.message = message;
  state.error = error;
  const entry = line ? state.lines.get(line) : null;
  const first = state.lines.values().next().value;
  focusAfterRender = () => (entry || first ? (entry || first).card.button : document.getElementById('main'));
  render();
}

// Once a second: waiting times, the call timer, the end of wrap-up.
function tick() {
  if (state.wrapupUntil && !inWrapup()) state.wrapupUntil = 0;
  if (state.me && state.phase !== 'signedout') render();
}

function abandonCall(code) {
  backToQueue({ key: 'call.ended' }, { code });
  if (sig.connected) sig.request('hangup').catch(() => {});
}

async function hangUp() {
  if (state.phase !== 'incall') return;
  const away = state.reconnecting;
  const token = tokens.current();
  backToQueue({ key: 'call.ended' });
  if (away) {
    // Come back briefly to end the call for everyone rather than leave it waiting.
    if (!token) return;
    try {
      await connect();
      await sig.request('resume', { token, keepMedia: false });
      await sig.request('hangup');
    } catch {
      // The call ends on its own after the grace period.
    }
    return;
  }
  try {
    await sig.request('hangup');
  } catch {
    // Already over or the socket is gone.
  }
}

function toggleMute() {
  if (!callMedia.current) return;
  state.muted = !state.muted;
  callMedia.current.setMuted(state.muted);
  render();
}

function announce(text) {
  state.notice = text;
  render();
}

async function createInvite(event) {
  event.preventDefault();
  if (state.phase !== 'incall' || state.inviting) return;
  state.inviting = true;
  state.error = null;
  render();
  try {
    const result = await sig.request('interpreter.invite', { language: els.inviteLanguage.value });
    state.invite = {
      url: result.url,
      language: result.language || els.inviteLanguage.value,
      expiresAt: result.expiresAt,
    };
    state.inviteOpen = false;
    focusAfterRender = () => els.copyLink;
    // Focus moves to Copy link; the live region says what was made and for how long.
    state.notice = t('pro.inviteCreated', {
      language: languageName(state.invite.language),
      time: formatExpiry(state.invite.expiresAt),
    });
  } catch (err) {
    state.error = { code: errorCode(err, 'internal_error') };
  } finally {
    state.inviting = false;
  }
  render();
}

async function copyInvite() {
  if (!state.invite) return;
  try {
    await navigator.clipboard.writeText(state.invite.url);
    announce(t('pro.linkCopied'));
  } catch {
    // No clipboard permission: select the link so it can be copied by hand.
    const range = document.createRange();
    range.selectNodeContents(els.inviteLink);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    announce(t('pro.linkSelected'));
  }
}

async function removeInterpreter() {
  const interpreter = roster.find('interpreter');
  if (!interpreter) return;
  try {
    await sig.request('participant.remove', { participantId: interpreter.id });
    focusAfterRender = () => els.invite;
  } catch (err) {
    state.error = { code: errorCode(err, 'internal_error') };
  }
  render();
}

// ---- identification and video -------------------------------------------------------------

function requestIdentification() {
  return stepUpRequest('identify.request', {}, (s) => s.identify !== 'identified', (s) => {
    if (s.identify !== 'identified') {
      s.identify = 'waiting';
      s.failed = null;
    }
  });
}

function requestVideo(event) {
  event.preventDefault();
  const purpose = els.videoPurpose.value;
  return stepUpRequest('video.request', { purpose }, (s) => s.video === 'off', (s) => {
    // video.state (requested) says the rest; it may come before or after this result.
    if (s.video === 'off') {
      s.video = 'requested';
      s.purpose = els.videoPurpose.value;
      s.videoMessage = null;
    }
  });
}

// identify.request or video.request, one at a time: sent when `allowed(s)` in a call;
// `accepted(s)` applies the result to the call's step-up (not when the call changed).
async function stepUpRequest(type, fields, allowed, accepted) {
  const s = state.stepup;
  if (state.phase !== 'incall' || !allowed(s) || s.requesting) return;
  s.requesting = true;
  s.error = null;
  state.error = null;
  render();
  try {
    await sig.request(type, fields);
    if (state.stepup === s) accepted(s);
  } catch (err) {
    if (state.stepup !== s) return;
    stepUpRefused(s, err);
  } finally {
    s.requesting = false;
  }
  render();
}

// A refused identify.request / video.request: the alert, and the reason by the button.
function stepUpRefused(s, err) {
  const code = errorCode(err, 'internal_error');
  if (code === 'connection_closed') return;
  s.error = code;
  state.error = { code };
}

// `startCamera`: false when the caller starts the camera itself (on the peer connection
// that will carry it).
function applyVideoState(event, { quiet = false, startCamera = true } = {}) {
  const s = state.stepup;
  const before = s.video;
  if (event.state === 'requested') {
    s.video = 'requested';
    s.purpose = event.purpose || s.purpose;
    s.videoMessage = null;
  } else if (event.state === 'on') {
    s.video = 'on';
    s.purpose = event.purpose || s.purpose;
    s.videoMessage = null;
    if (startCamera) camera.start();
  } else {
    s.video = 'off';
    camera.stop();
    if (before !== 'off') s.videoMessage = videoOffKey(VIDEO_OFF_KEYS, event, before);
    s.purpose = null;
  }
  if (s.video !== 'off' && s.error === 'not_identified') s.error = null;
  if (!quiet && before !== s.video) state.notice = videoStateText(s);
  render();
}

sig.on('participant.identified', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event)) return;
  if (event.participantId && roster.byId.has(event.participantId)) {
    roster.put({ id: event.participantId, identified: event.level || null });
  }
  const s = state.stepup;
  s.identify = 'identified';
  s.failed = null;
  s.error = null;
  s.level = event.level || s.level;
  const identity = event.identity && typeof event.identity === 'object' ? event.identity : null;
  if (identity) {
    // Only the known fields, as text.
    s.identity = {};
    for (const key of ['name', 'code', 'birthdate', 'level', 'provider']) {
      if (identity[key] !== undefined && identity[key] !== null) s.identity[key] = String(identity[key]);
    }
  }
  announce(t('pro.identify.announce', { level: levelText(s.level) }));
});

sig.on('identify.failed', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event)) return;
  const s = state.stepup;
  if (s.identify === 'identified') return;
  s.identify = 'failed';
  s.failed = IDENTIFY_FAILED_KEYS[event.code] ? event.code : 'failed';
  announce(t(IDENTIFY_FAILED_KEYS[s.failed]));
});

sig.on('video.state', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event)) return;
  applyVideoState(event);
});

const END_REASON_KEYS = {
  removed: 'call.endedReason.removed',
  media_failed: 'call.endedReason.media_failed',
  media_timeout: 'call.endedReason.media_timeout',
  shutdown: 'call.endedReason.shutdown',
  timeout: 'call.endedReason.timeout',
};

sig.on('line.status', (event) => {
  const entry = state.lines.get(event.line);
  if (!entry || !event.status) return;
  const before = waitingCount(event.line);
  const beforeTotal = totalWaiting();
  entry.status = event.status;
  if (!state.queues.has(event.line)) queueChanged(event.line, before, beforeTotal);
  else if (state.message && state.message.key === 'pro.callerWaiting' && totalWaiting() === 0) {
    state.message = null;
  }
  render();
});

sig.on('staff.queue', (event) => {
  putQueue(event);
  render();
});

sig.on('call.connected', (event) => {
  if (!state.call) return;
  if (!state.call.callId && event.callId) state.call.callId = event.callId;
  if (Array.isArray(event.participants) && roster.ours(event)) {
    for (const p of event.participants) roster.put(p);
    render();
  }
});

sig.on('participant.joined', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event) || !event.participant) return;
  const p = event.participant;
  roster.put(p);
  if (p.role === 'interpreter') {
    state.invite = null;
    state.inviteOpen = false;
    if (document.activeElement === els.copyLink || document.activeElement === els.createLink) {
      focusAfterRender = () => els.removeInterpreter;
    }
  }
  if (p.id !== state.participantId) announce(joinedText(p));
  render();
});

sig.on('participant.updated', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event) || !event.participant) return;
  const p = event.participant;
  const before = roster.byId.get(p.id);
  roster.put(p);
  if (p.id !== state.participantId && before && before.state !== p.state) {
    if (p.state === 'reconnecting') announce(reconnectingText(roster.byId.get(p.id)));
    else if (before.state === 'reconnecting' && p.state === 'connected') {
      announce(backText(roster.byId.get(p.id)));
    }
  }
  render();
});

sig.on('participant.left', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event) || !event.participant) return;
  const p = { ...roster.byId.get(event.participant.id), ...event.participant };
  roster.remove(p.id);
  state.lastLeft = { participant: p, reason: event.reason, by: event.by || p.role };
  if (p.id !== state.participantId) announce(leftText(p, event.reason));
  if (p.role === 'interpreter' && document.activeElement === els.removeInterpreter) {
    focusAfterRender = () => els.invite;
  }
  render();
});

sig.on('call.ended', (event) => {
  if (state.phase !== 'incall' || !state.call) return;
  if (event.callId && state.call.callId && event.callId !== state.call.callId) return;
  let message;
  const by = event.by || (state.lastLeft && state.lastLeft.by)
    || (state.lastLeft && state.lastLeft.participant.role) || null;
  const reason = event.reason === 'peer_left' && state.lastLeft ? state.lastLeft.reason : event.reason;
  if (by === 'resident' && reason === 'hangup') {
    message = { key: 'pro.endedResidentHungUp' };
  } else if (by === 'resident' && (reason === 'timeout' || reason === 'media_failed'
    || reason === 'media_timeout')) {
    message = { key: 'pro.endedResidentLost' };
  } else if (event.reason === 'peer_left') {
    const last = state.lastLeft;
    message = last && last.participant.role === 'resident' && last.reason !== 'hangup'
      ? { text: `${leftText(last.participant, last.reason)} ${t('call.ended')}` }
      : { key: 'pro.callerLeft' };
  } else {
    const extra = END_REASON_KEYS[event.reason];
    message = { text: extra ? `${t('call.ended')} ${t(extra)}` : t('call.ended') };
  }
  backToQueue(message, event.reason === 'media_failed' ? { code: 'media_failed' } : null);
});

// Another console of this session took the call over (Rejoin call there): let go of it
// here without hanging up, and come back to the lines with a fresh socket.
sig.on('session.replaced', async () => {
  if (state.phase !== 'incall') return;
  backToQueue({ key: 'room.replacedPro' });
  sig.close();
  state.phase = 'loading';
  render();
  await connect();
  state.message = { key: 'room.replacedPro' };
  render();
});

// The gateway closes a staff socket with 4003 when the sign-in has expired or was signed
// out (docs/protocol.md): back to signed out, saying which.
const SESSION_ENDED_CLOSE_CODE = 4003;
const SESSION_ENDED_MESSAGES = {
  'session expired': 'pro.sessionEnded.expired',
  'signed out': 'pro.sessionEnded.signed_out',
};

sig.on('closed', (event) => {
  if (state.phase === 'signedout') return;
  if (event && event.code === SESSION_ENDED_CLOSE_CODE) {
    endCall();
    tokens.clear();
    reconnectGeneration += 1; // a reconnect under way stops
    state.reconnecting = false;
    state.me = null;
    state.phase = 'signedout';
    state.error = null;
    state.message = { key: SESSION_ENDED_MESSAGES[event.reason] || 'pro.sessionEnded.expired' };
    render();
    return;
  }
  if (state.phase === 'incall' && tokens.current()) {
    reconnect();
    return;
  }
  if (state.reconnecting) return;
  endCall();
  state.phase = 'disconnected';
  state.message = null;
  state.error = { code: 'connection_lost' };
  focusAfterRender = () => els.retry;
  render();
});

els.hangup.addEventListener('click', () => {
  hangUp();
});
els.mute.addEventListener('click', toggleMute);
els.available.addEventListener('click', () => {
  setAvailable(true);
});
els.away.addEventListener('click', () => {
  setAvailable(false);
});
els.ready.addEventListener('click', () => {
  state.wrapupUntil = 0;
  const entry = state.wrapupLine ? state.lines.get(state.wrapupLine) : null;
  const first = state.lines.values().next().value;
  focusAfterRender = () => (entry || first ? (entry || first).card.button : null);
  render();
});
try {
  els.sound.checked = window.localStorage.getItem(SOUND_KEY) !== 'off';
} catch {
  // Storage disabled: the sound stays on.
}
els.sound.addEventListener('change', () => {
  try {
    window.localStorage.setItem(SOUND_KEY, els.sound.checked ? 'on' : 'off');
  } catch {
    // not remembered
  }
});
els.invite.addEventListener('click', () => {
  state.inviteOpen = !state.inviteOpen;
  if (state.inviteOpen) focusAfterRender = () => els.inviteLanguage;
  render();
});
els.inviteForm.addEventListener('submit', (event) => {
  createInvite(event);
});
els.videoForm.addEventListener('submit', (event) => {
  requestVideo(event);
});
// Buttons that start a request: the click does not wait for it.
for (const [button, action] of [
  [els.copyLink, copyInvite],
  [els.removeInterpreter, removeInterpreter],
  [els.identify, requestIdentification],
  [els.cancelVideo, camera.stopVideo],
  [els.stopVideo, camera.stopVideo],
]) {
  button.addEventListener('click', () => {
    action();
  });
}
els.retry.addEventListener('click', () => {
  if (!state.me) {
    window.location.reload();
    return;
  }
  state.phase = 'loading';
  state.error = null;
  render();
  connect();
});
els.signout.addEventListener('click', async () => {
  endCall();
  tokens.clear();
  sig.close();
  try {
    await fetch('/api/staff/signout', { method: 'POST', credentials: 'same-origin' });
  } catch (err) {
    console.warn('sign-out request failed', err);
  }
  state.me = null;
  state.phase = 'signedout';
  state.error = null;
  state.message = { key: 'pro.signedOutMessage' };
  render();
});

window.addEventListener('pagehide', () => {
  // The token stays: a reload comes back into the call.
  endCall();
  sig.close();
});
window.addEventListener('pageshow', (event) => {
  // Restored from the back/forward cache with its socket closed: start afresh (a call
  // comes back through the stored token).
  if (event.persisted) window.location.reload();
});

async function main() {
  await initI18n();
  fillLanguageOptions();
  onLanguageChange(async () => {
    fillLanguageOptions();
    render();
    await loadNames();
    render();
  });
  render();
  let me;
  try {
    me = await loadMe();
  } catch (err) {
    console.warn('could not load the session', err);
    state.phase = 'disconnected';
    state.error = { code: 'connection_failed' };
    render();
    return;
  }
  if (!me) {
    checkDemo();
    tokens.clear();
    state.phase = 'signedout';
    render();
    return;
  }
  state.me = me;
  window.setInterval(tick, 1000);
  await loadNames();
  await connect();
}

main().catch((err) => console.error('console failed to start', err));
