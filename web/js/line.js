// Resident page of one service line: status, queue and an anonymous voice call.

import {
  initI18n, onLanguageChange, t, lang, describeLineStatus, formatQueueLength, formatLineWait,
  formatQueuePosition, errorMessage, formatDuration, has, formatNextOpening, formatTime,
} from './i18n.js';
import { SignalingClient, PROTOCOL_VERSION, errorCode } from './signaling.js';
import { showDemo } from './demo.js';
import { CallMedia, getMicrophone, stopStream } from './rtc.js';
import {
  TokenStore, Roster, renderRoster, reconnectLoop, FINAL_RESUME_ERRORS, mediaKeepable, joinedText, leftText,
  reconnectingText, backText,
} from './room.js';

const $ = (id) => document.getElementById(id);
const els = {
  notFound: $('not-found'),
  content: $('line-content'),
  name: $('line-name'),
  description: $('line-description'),
  badge: $('line-badge'),
  detail: $('line-detail'),
  queue: $('line-queue'),
  wait: $('line-wait'),
  hint: $('call-hint'),
  status: $('status'),
  timer: $('call-timer'),
  alert: $('alert'),
  alertText: $('alert-text'),
  alertHelp: $('alert-help'),
  call: $('call-button'),
  cancel: $('cancel-button'),
  hangup: $('hangup-button'),
  mute: $('mute-button'),
  retry: $('retry-button'),
  audio: $('remote-audio'),
  participantsBox: $('participants-box'),
  participants: $('participants'),
  notice: $('call-notice'),
  unstaffed: $('line-unstaffed'),
  hoursBox: $('hours-box'),
  hoursList: $('hours-list'),
  callHeading: $('call-heading'),
  privacy: $('privacy-note'),
  infoCard: document.querySelector('.line-info'),
  audioControls: $('audio-controls'),
  volume: $('volume'),
  speakerField: $('speaker-field'),
  speaker: $('speaker'),
};
const actionButtons = [els.call, els.cancel, els.hangup, els.retry, els.mute];

function readLineId() {
  const match = /^\/lines\/([^/]+)\/?$/.exec(window.location.pathname);
  if (match) return decodeURIComponent(match[1]);
  // Fallback for opening /static/line.html?line=<id> directly.
  return new URLSearchParams(window.location.search).get('line') || '';
}

const lineId = readLineId();

// phase: loading | resuming | idle | starting | joining | queued | connected | ended |
//        disconnected | notfound
// `reconnecting` is true while queued or connected and the socket is being re-established.
const state = {
  phase: 'loading',
  info: null, // {name, description} from /api/lines/<id>
  status: null, // LineStatus
  position: null,
  wait: null,
  message: null, // {key, extra?} status text kept after a call or queue ends
  error: null, // {code} shown in the alert
  iceServers: [],
  connectedAt: null,
  muted: false,
  reconnecting: false,
  participantId: null,
  notice: '', // last announcement about the others in the call (polite live region)
};

const sig = new SignalingClient();
let media = null;
let pendingStream = null;
let timerHandle = null;
let pendingFocus = false;
const tokens = new TokenStore(`line.${lineId}`);
const roster = new Roster();
let reconnectGeneration = 0;

// ---- rendering ---------------------------------------------------------------------------

function lineName() {
  return (state.info && state.info.name) || lineId;
}

function statusText() {
  switch (state.phase) {
    case 'loading':
      return t('line.connecting');
    case 'resuming':
      return t('line.resuming');
    case 'starting':
      return t('line.askingMicrophone');
    case 'joining':
      return t('line.joining');
    case 'queued':
      if (state.reconnecting) return t('line.reconnectingQueued');
      return formatQueuePosition(state.position, state.wait);
    case 'connected':
      if (state.reconnecting) return t('line.reconnectingCall');
      return t('call.connected');
    case 'idle':
    case 'ended': {
      if (!state.message) return '';
      const parts = [t(state.message.key)];
      if (state.message.extra) parts.push(t(state.message.extra));
      if (state.phase === 'ended' && state.status && state.status.accepting) {
        parts.push(t('line.callAgain'));
      }
      return parts.join(' ');
    }
    default:
      return '';
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function render() {
  const activeBefore = document.activeElement;
  const notFound = state.phase === 'notfound';
  els.notFound.hidden = !notFound;
  els.content.hidden = notFound;

  document.title = notFound ? t('line.pageTitle') : t('line.titleWithName', { line: lineName() });
  setText(els.name, lineName());
  setText(els.description, (state.info && state.info.description) || '');
  els.description.hidden = !(state.info && state.info.description);

  const described = describeLineStatus(state.status);
  setText(els.badge, state.status ? described.label : '');
  els.badge.dataset.state = described.state;
  els.badge.hidden = !state.status;
  setText(els.detail, described.detail);
  const phaseNow = state.phase;
  const busy = phaseNow === 'queued' || phaseNow === 'connected';
  const unstaffed = Boolean(state.status && state.status.open && state.status.answerable === false);
  let unstaffedText = '';
  if (unstaffed && phaseNow === 'queued') {
    unstaffedText = t('line.unstaffedQueued');
  } else if (unstaffed && !busy) {
    if (state.status.accepting && state.status.warning === 'unstaffed') {
      unstaffedText = t('line.unstaffedWarning');
    } else if (state.status.nextStaffed) {
      unstaffedText = t('line.unstaffedNext', { when: formatNextOpening(state.status.nextStaffed) });
    } else {
      unstaffedText = t('line.unstaffed');
    }
  }
  setText(els.unstaffed, unstaffedText);
  els.unstaffed.hidden = !unstaffedText;
  renderHours();
  setText(els.callHeading, phaseNow === 'connected' ? t('line.inCallHeading') : t('line.callHeading'));
  els.privacy.hidden = phaseNow === 'connected';
  els.description.hidden = els.description.hidden || phaseNow === 'connected';
  els.infoCard.hidden = phaseNow === 'connected';
  els.audioControls.hidden = phaseNow !== 'connected';
  setText(els.queue, state.status && state.status.open
    ? formatQueueLength(state.status.queueLength) : '');
  els.queue.hidden = !els.queue.textContent;
  // One estimate at a time: while queued, the status sentence carries the caller's own.
  const showWait = described.state === 'open' && !busy && !unstaffed;
  els.wait.hidden = !showWait;
  setText(els.wait, showWait ? formatLineWait(state.status) : '');

  const phase = state.phase;
  const accepting = Boolean(state.status && state.status.accepting);
  const canCall = (phase === 'idle' || phase === 'ended') && accepting && sig.connected;

  const noAnswer = unstaffed && !accepting;
  els.call.hidden = !['loading', 'idle', 'starting', 'joining', 'ended'].includes(phase) || noAnswer;
  els.call.disabled = !canCall;
  els.call.setAttribute('aria-busy', String(phase === 'starting' || phase === 'joining'));
  els.cancel.hidden = phase !== 'queued';
  els.hangup.hidden = phase !== 'connected';
  els.mute.hidden = phase !== 'connected';
  els.mute.setAttribute('aria-pressed', String(state.muted));
  setText(els.mute, state.muted ? t('call.unmute') : t('call.mute'));
  els.retry.hidden = phase !== 'disconnected';

  let hint = '';
  if ((phase === 'idle' || phase === 'ended') && state.status && !accepting) {
    if (!unstaffed) hint = state.status.open ? t('line.cannotCallFull') : t('line.cannotCallClosed');
  }
  setText(els.hint, hint);
  els.hint.hidden = !hint;

  setText(els.status, statusText());

  const listed = phase === 'connected' ? renderRoster(els.participants, roster) : 0;
  els.participantsBox.hidden = listed === 0;
  setText(els.notice, phase === 'connected' ? state.notice : '');

  els.timer.hidden = phase !== 'connected' || state.connectedAt === null;
  if (!els.timer.hidden) {
    setText(els.timer, t('call.duration', {
      duration: formatDuration((Date.now() - state.connectedAt) / 1000),
    }));
  }

  if (state.error) {
    setText(els.alertText, errorMessage(state.error.code));
    const helpKey = `help.${state.error.code}`;
    const help = has(helpKey) ? t(helpKey) : '';
    setText(els.alertHelp, help);
    els.alertHelp.hidden = !help;
    els.alert.hidden = false;
  } else {
    els.alert.hidden = true;
    setText(els.alertText, '');
  }

  manageFocus(activeBefore);
}

// When the button that had focus disappears (Call -> Cancel -> Hang up), move focus to the
// action that replaced it, so keyboard and screen reader users are not dropped to <body>.
function manageFocus(activeBefore) {
  const usable = (button) => !button.hidden && !button.disabled;
  const active = document.activeElement;
  if (actionButtons.includes(active) && usable(active)) {
    pendingFocus = false;
    return;
  }
  const lost = active === null || active === document.body || actionButtons.includes(active);
  if (!lost) {
    pendingFocus = false;
    return;
  }
  if (actionButtons.includes(activeBefore) || pendingFocus) {
    const target = actionButtons.find(usable);
    if (target) {
      target.focus();
      pendingFocus = false;
    } else {
      pendingFocus = true;
    }
  }
}

// The weekly opening hours from the line status (none for a line open around the clock).
function renderHours() {
  const week = state.status && Array.isArray(state.status.weeklyHours) ? state.status.weeklyHours : null;
  els.hoursBox.hidden = !week || week.length === 0;
  if (!week) return;
  const rows = [];
  for (const day of week) {
    const ranges = Array.isArray(day.ranges) ? day.ranges : [];
    const text = ranges.length ? ranges.map((r) => t('line.hoursRange', {
      opens: formatTime(r.opens), closes: formatTime(r.closes),
    })).join(', ') : t('line.hoursClosed');
    rows.push([t(`weekday.${day.weekday}`), text]);
  }
  const signature = rows.map((r) => r.join('|')).join('\n');
  if (els.hoursList.dataset.signature === signature) return;
  els.hoursList.dataset.signature = signature;
  els.hoursList.replaceChildren(...rows.flatMap(([day, text]) => {
    const dt = document.createElement('dt');
    dt.textContent = day;
    const dd = document.createElement('dd');
    dd.textContent = text;
    return [dt, dd];
  }));
}

// Speaker choice where the browser can route audio (HTMLMediaElement.setSinkId).
async function fillSpeakers() {
  if (!('setSinkId' in HTMLMediaElement.prototype) || !navigator.mediaDevices
    || !navigator.mediaDevices.enumerateDevices) return;
  try {
    const outputs = (await navigator.mediaDevices.enumerateDevices())
      .filter((d) => d.kind === 'audiooutput');
    if (outputs.length < 2) return;
    const chosen = els.speaker.value;
    els.speaker.replaceChildren(...outputs.map((d, i) => {
      const option = document.createElement('option');
      option.value = d.deviceId;
      option.textContent = d.label || (i === 0 ? t('line.speakerDefault') : `${t('line.speaker')} ${i + 1}`);
      return option;
    }));
    if (chosen) els.speaker.value = chosen;
    els.speakerField.hidden = false;
  } catch {
    // No speaker list: the default output is used.
  }
}

function startTimer() {
  stopTimer();
  timerHandle = window.setInterval(render, 1000);
}

function stopTimer() {
  if (timerHandle !== null) window.clearInterval(timerHandle);
  timerHandle = null;
}

// ---- data --------------------------------------------------------------------------------

async function loadInfo() {
  try {
    const response = await fetch(
      `/api/lines/${encodeURIComponent(lineId)}?lang=${encodeURIComponent(lang())}`,
      { credentials: 'same-origin', headers: { Accept: 'application/json' } },
    );
    if (response.status === 404) {
      state.phase = 'notfound';
      teardownMedia();
      sig.close();
      render();
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    state.info = { name: body.name, description: body.description };
    if (body.status && !state.status) state.status = body.status;
    render();
  } catch (err) {
    console.warn('could not load line details', err);
  }
}

async function connectSocket() {
  await sig.connect();
  const hello = await sig.request('hello', { protocol: PROTOCOL_VERSION });
  state.iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
  showDemo(hello.demoIdentification);
  const watched = await sig.request('line.watch', { line: lineId });
  state.status = watched.status || state.status;
}

async function connect() {
  state.phase = 'loading';
  render();
  try {
    await connectSocket();
    if (state.phase === 'notfound') return;
    state.phase = 'idle';
    state.error = null;
  } catch (err) {
    if (state.phase === 'notfound') return;
    if (err && err.code === 'unknown_line') {
      state.phase = 'notfound';
      sig.close();
    } else {
      state.phase = 'disconnected';
      state.error = { code: 'connection_failed' };
      sig.close();
    }
    render();
    return;
  }
  render();
  if (tokens.get()) await resumeStored();
}

// ---- call --------------------------------------------------------------------------------

function teardownMedia() {
  stopTimer();
  if (media) media.close();
  media = null;
  if (pendingStream) stopStream(pendingStream);
  pendingStream = null;
  state.connectedAt = null;
  state.muted = false;
  state.position = null;
  state.wait = null;
  state.reconnecting = false;
  state.participantId = null;
  state.notice = '';
  roster.reset();
  reconnectGeneration += 1;
}

function fail(code, phase = 'idle') {
  teardownMedia();
  tokens.clear();
  state.phase = phase;
  state.message = null;
  state.error = { code };
  render();
}

function makeMedia(stream) {
  const current = new CallMedia({
    signaling: sig,
    iceServers: state.iceServers,
    stream,
    audioElement: els.audio,
    onFailure: (code) => {
      if (media !== current) return;
      // A dropped socket is handled by reconnecting, not by ending the call.
      if (state.reconnecting || code === 'connection_closed') return;
      abandonCall(code);
    },
    onRenegotiationFailure: () => {
      if (media !== current) return;
      state.error = { code: 'renegotiation_failed' };
      render();
    },
  });
  if (state.muted) current.setMuted(true);
  return current;
}

async function startCall() {
  if (!(state.phase === 'idle' || state.phase === 'ended')) return;
  pendingFocus = true;
  state.error = null;
  state.message = null;
  state.phase = 'starting';
  render();

  let stream;
  try {
    stream = await getMicrophone();
  } catch (err) {
    fail(errorCode(err, 'microphone_unsupported'));
    return;
  }
  if (state.phase !== 'starting') {
    stopStream(stream);
    return;
  }
  pendingStream = stream;
  state.phase = 'joining';
  render();

  try {
    const joined = await joinQueue();
    tokens.set(joined.resumeToken);
    state.participantId = joined.participantId || null;
    state.position = joined.position;
    state.wait = joined.estimatedWaitSeconds;
  } catch (err) {
    if (state.phase === 'joining') fail(errorCode(err, 'internal_error'));
    return;
  }
  if (state.phase !== 'joining') return;

  pendingStream = null;
  const current = makeMedia(stream);
  media = current;
  state.phase = 'queued';
  render();

  try {
    await current.sendOffer();
  } catch (err) {
    if (media === current && !state.reconnecting) abandonCall(errorCode(err, 'media_failed'));
  }
}

// A fresh peer connection (after a reload, or when the old one did not survive the drop):
// microphone again, then our offer; the gateway offers the others' audio afterwards.
async function startFreshMedia(micStream = null) {
  if (media) media.close();
  media = null;
  let stream = micStream;
  if (!stream) {
    try {
      stream = await getMicrophone();
    } catch (err) {
      abandonCall(errorCode(err, 'microphone_unsupported'));
      return;
    }
  }
  if (!(state.phase === 'queued' || state.phase === 'connected') || media) {
    stopStream(stream);
    return;
  }
  const current = makeMedia(stream);
  media = current;
  try {
    await current.sendOffer();
  } catch (err) {
    if (media === current && !state.reconnecting && err && err.code !== 'connection_closed') {
      abandonCall(errorCode(err, 'media_failed'));
    }
  }
}

// Take the place back as the resume result says: the queue (position) or the call.
async function enterFromResume(result, keptMedia, stream = null) {
  tokens.set(result.resumeToken);
  state.participantId = result.participantId || state.participantId;
  state.error = null;
  if (result.phase === 'call') {
    if (state.phase !== 'connected') {
      state.connectedAt = Date.now();
      startTimer();
    }
    state.phase = 'connected';
    roster.reset(result.callId || null, state.participantId, result.participants);
  } else {
    state.phase = 'queued';
    if (result.position !== undefined) state.position = result.position;
    if (result.estimatedWaitSeconds !== undefined) state.wait = result.estimatedWaitSeconds;
  }
  render();
  if (!keptMedia || !media) {
    await startFreshMedia(stream);
  } else if (stream) {
    stopStream(stream);
  }
}

// The place is gone (used or expired token, ended call): say so, offer to call again.
function placeLost(wasCall) {
  teardownMedia();
  tokens.clear();
  state.phase = 'ended';
  state.error = null;
  // Why is not known here (the grace period ran out, or the others ended the call).
  state.message = wasCall ? { key: 'call.ended' } : { key: 'line.queueLost' };
  render();
}

// After a page load with a stored token: resume (a new peer connection, keepMedia false).
async function resumeStored() {
  const token = tokens.get();
  if (!token) return;
  pendingFocus = true;
  state.phase = 'resuming';
  render();
  // The microphone first: the new peer connection must exist as soon as the place is back.
  let stream;
  try {
    stream = await getMicrophone();
  } catch (err) {
    state.phase = 'disconnected';
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
    if (FINAL_RESUME_ERRORS.has(code)) {
      placeLost(false);
      state.message = { key: 'line.previousEnded' };
      render();
    } else if (code === 'connection_closed' || code === 'timeout') {
      state.phase = 'disconnected';
      state.error = { code: 'connection_failed' };
      render();
    } else {
      tokens.clear();
      state.phase = 'idle';
      state.error = { code };
      render();
    }
    return;
  }
  await enterFromResume(result, false, stream);
}

// The socket dropped while queued or in a call: keep the peer connection, connect again
// with a capped backoff for the grace period and resume.
async function reconnect() {
  if (state.reconnecting) return;
  const wasCall = state.phase === 'connected';
  state.reconnecting = true;
  state.error = null;
  render();
  const generation = ++reconnectGeneration;
  let spare = null;
  const outcome = await reconnectLoop({
    cancelled: () => generation !== reconnectGeneration,
    attempt: async () => {
      await sig.connect();
      const hello = await sig.request('hello', { protocol: PROTOCOL_VERSION });
      state.iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
      const keepMedia = mediaKeepable(media);
      // Without the old peer connection, the microphone is ready before the resume, so
      // the new connection exists before the gateway's first offer event can arrive.
      if (!keepMedia && !spare) spare = await getMicrophone();
      const result = await sig.request('resume', { token: tokens.current(), keepMedia });
      return { result, keepMedia };
    },
  });
  if (generation !== reconnectGeneration || !outcome.result) stopStream(spare);
  if (generation !== reconnectGeneration) return;
  state.reconnecting = false;
  if (outcome.result) {
    sig.request('line.watch', { line: lineId }).then((watched) => {
      if (watched.status) state.status = watched.status;
      render();
    }).catch(() => {});
    await enterFromResume(outcome.result.result, outcome.result.keepMedia, spare);
    return;
  }
  if (FINAL_RESUME_ERRORS.has(outcome.code)) {
    placeLost(wasCall);
    sig.request('line.watch', { line: lineId }).then((watched) => {
      if (watched.status) state.status = watched.status;
      render();
    }).catch(() => {});
    return;
  }
  teardownMedia();
  tokens.clear();
  sig.close();
  state.phase = 'disconnected';
  state.message = null;
  state.error = { code: 'connection_lost' };
  render();
}

// Leaving while the socket is down: come back briefly to say goodbye, so the place is not
// kept for the grace period.
async function leaveWhileAway(request) {
  const token = tokens.current();
  tokens.clear();
  if (!token) return;
  try {
    await connectSocket();
    await sig.request('resume', { token, keepMedia: false });
    await sig.request(request);
  } catch {
    // The place times out on its own.
  }
}

// A node that is shutting down takes no new queue places: connect again (a load balancer
// sends the new socket to a node that is not draining) and ask once more.
async function joinQueue() {
  try {
    return await sig.request('queue.join', { line: lineId });
  } catch (err) {
    if (!err || err.code !== 'draining') throw err;
    sig.close();
    await connectSocket();
    return sig.request('queue.join', { line: lineId });
  }
}

// Media could not be set up: leave the queue or the call and explain.
function abandonCall(code) {
  const wasConnected = state.phase === 'connected';
  fail(code, 'idle');
  if (!sig.connected) return;
  const request = wasConnected ? 'hangup' : 'queue.leave';
  sig.request(request).catch(() => {
    if (request === 'queue.leave') sig.request('hangup').catch(() => {});
  });
}

async function cancelQueue() {
  pendingFocus = true;
  const away = state.reconnecting;
  teardownMedia();
  state.phase = 'idle';
  state.error = null;
  state.message = { key: 'line.leftQueue' };
  render();
  if (away) {
    await leaveWhileAway('queue.leave');
    render();
    return;
  }
  tokens.clear();
  try {
    await sig.request('queue.leave');
  } catch (err) {
    // Not queued any more: a professional may have answered at this very moment.
    if (err && err.code === 'invalid_state') sig.request('hangup').catch(() => {});
  }
}

async function hangUp() {
  pendingFocus = true;
  const away = state.reconnecting;
  teardownMedia();
  state.phase = 'ended';
  state.error = null;
  state.message = { key: 'call.ended' };
  render();
  if (away) {
    await leaveWhileAway('hangup');
    render();
    return;
  }
  tokens.clear();
  try {
    await sig.request('hangup');
  } catch {
    // The call may already be over (invalid_state) or the socket gone; nothing to undo.
  }
}

function toggleMute() {
  if (!media) return;
  state.muted = !state.muted;
  media.setMuted(state.muted);
  render();
}

function announce(text) {
  state.notice = text;
  render();
}

const END_REASON_KEYS = {
  peer_left: 'call.endedReason.peer_left',
  media_failed: 'call.endedReason.media_failed',
  media_timeout: 'call.endedReason.media_timeout',
  shutdown: 'call.endedReason.shutdown',
  timeout: 'call.endedReason.timeout',
};

sig.on('line.status', (event) => {
  if (event.line === lineId && event.status) {
    state.status = event.status;
    render();
  }
});

sig.on('queue.update', (event) => {
  if (state.phase !== 'queued' || (event.line && event.line !== lineId)) return;
  state.position = event.position;
  state.wait = event.estimatedWaitSeconds;
  if (typeof event.answerable === 'boolean' && state.status) {
    state.status = { ...state.status, answerable: event.answerable };
  }
  render();
});

sig.on('call.connected', (event) => {
  if (state.phase !== 'queued') return;
  state.phase = 'connected';
  state.connectedAt = Date.now();
  state.error = null;
  state.participantId = event.participantId || state.participantId;
  roster.reset(event.callId || null, state.participantId, event.participants);
  render();
  startTimer();
  fillSpeakers();
});

sig.on('participant.joined', (event) => {
  if (state.phase !== 'connected' || !roster.ours(event) || !event.participant) return;
  const p = event.participant;
  roster.put(p);
  if (p.id !== state.participantId) announce(joinedText(p));
  render();
});

sig.on('participant.updated', (event) => {
  if (state.phase !== 'connected' || !roster.ours(event) || !event.participant) return;
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
  if (state.phase !== 'connected' || !roster.ours(event) || !event.participant) return;
  const p = { ...roster.byId.get(event.participant.id), ...event.participant };
  roster.remove(p.id);
  if (p.id !== state.participantId) announce(leftText(p, event.reason));
  render();
});

sig.on('call.ended', (event) => {
  if (state.phase !== 'connected' && state.phase !== 'queued') return;
  teardownMedia();
  tokens.clear();
  state.phase = 'ended';
  let extra = END_REASON_KEYS[event.reason];
  if (event.by === 'professional' && event.reason === 'hangup') extra = 'line.endedProfessional';
  if (event.by === 'professional' && event.reason === 'timeout') extra = 'line.endedProfessionalLost';
  state.message = { key: 'call.ended', extra };
  render();
});

sig.on('queue.ended', () => {
  if (state.phase !== 'queued') return;
  teardownMedia();
  tokens.clear();
  state.phase = 'idle';
  state.message = { key: 'line.queueEnded' };
  render();
});

// Another socket took this participant over (the page open in another tab, say): this
// page lets go without hanging up and offers to call again.
sig.on('session.replaced', () => {
  if (!(state.phase === 'queued' || state.phase === 'connected' || state.reconnecting)) return;
  teardownMedia();
  tokens.clear();
  sig.close();
  state.error = null;
  state.message = { key: 'room.replaced' };
  connect();
});

sig.on('closed', () => {
  if (state.phase === 'notfound') return;
  if ((state.phase === 'queued' || state.phase === 'connected') && tokens.current()) {
    reconnect();
    return;
  }
  if (state.reconnecting) return;
  teardownMedia();
  state.phase = 'disconnected';
  state.message = null;
  // A stored token survives: Try again comes back into the place while it is kept.
  state.error = { code: tokens.get() ? 'connection_failed' : 'connection_lost' };
  render();
});

els.call.addEventListener('click', () => {
  startCall();
});
els.cancel.addEventListener('click', () => {
  cancelQueue();
});
els.hangup.addEventListener('click', () => {
  hangUp();
});
els.mute.addEventListener('click', toggleMute);
els.volume.addEventListener('input', () => {
  els.audio.volume = Number(els.volume.value);
});
els.speaker.addEventListener('change', () => {
  els.audio.setSinkId(els.speaker.value).catch(() => {});
});
els.retry.addEventListener('click', () => {
  pendingFocus = true;
  state.error = null;
  loadInfo();
  connect();
});

window.addEventListener('pagehide', () => {
  // The token stays: a reload (or the back/forward cache) comes back into the place.
  teardownMedia();
  sig.close();
});
window.addEventListener('pageshow', (event) => {
  // Restored from the back/forward cache: the socket was closed on pagehide.
  if (event.persisted && state.phase !== 'notfound' && lineId) connect();
});

async function main() {
  await initI18n();
  onLanguageChange(() => {
    render();
    loadInfo();
  });
  render();
  if (!lineId) {
    state.phase = 'notfound';
    render();
    return;
  }
  await Promise.all([loadInfo(), connect()]);
}

main().catch((err) => console.error('line page failed to start', err));
