// Interpreter's page: /join#token=… opens a single-use invitation into one call.
//
// Video (docs/protocol.md, `video.*`) is receive-only here: the interpreter sees the others
// while the resident allows video, can stop it, and never sends a camera.
//
// The invitation token is read from the address's fragment (never sent to the server in a
// request line), then removed from the address bar. It is kept in sessionStorage only until
// Join (so a reload before Join still works) and sent nowhere but the signalling socket.

import {
  initI18n, onLanguageChange, t, errorMessage, formatDuration, has,
} from './i18n.js';
import { SignalingClient, PROTOCOL_VERSION, errorCode } from './signaling.js';
import { showDemo } from './demo.js';
import { getMicrophone, stopStream } from './rtc.js';
import {
  TokenStore, Roster, renderRoster, reconnectLoop, FINAL_RESUME_ERRORS, mediaKeepable, joinedText, leftText,
  reconnectingText, backText, languageName, CallMediaSlot,
} from './room.js';
import { VideoArea, purposeLabel, videoOffKey } from './video.js';

const $ = (id) => document.getElementById(id);
const videoArea = new VideoArea($('video-box'), { caption: 'join.video.remote' });
const els = {
  language: $('join-language'),
  status: $('status'),
  timer: $('call-timer'),
  alert: $('alert'),
  alertText: $('alert-text'),
  alertHelp: $('alert-help'),
  participantsBox: $('participants-box'),
  participants: $('participants'),
  notice: $('call-notice'),
  join: $('join-button'),
  hangup: $('hangup-button'),
  mute: $('mute-button'),
  retry: $('retry-button'),
  audio: $('remote-audio'),
  videoState: $('video-state'),
  videoBox: videoArea.box,
  remoteVideo: videoArea.remote,
  stopVideo: videoArea.stop,
};
const actionButtons = [els.join, els.hangup, els.retry, els.mute];

// phase: loading | ready | starting | joining | resuming | incall | ended | invalid | disconnected
const state = {
  phase: 'loading',
  language: null, // from interpreter.check / interpreter.join
  iceServers: [],
  participantId: null,
  connectedAt: null,
  muted: false,
  reconnecting: false,
  message: null, // {key} shown when ended or invalid
  error: null, // {code}
  notice: '',
  video: { state: 'off', purpose: null, message: null }, // the call's video, as video.state says
};

const VIDEO_OFF_KEYS = {
  declined: 'join.video.off.declined',
  withdrawn: 'join.video.off.withdrawn',
  stopped: 'join.video.off.stopped',
};

const sig = new SignalingClient();
const invite = new TokenStore('invite');
const tokens = new TokenStore('join');
const roster = new Roster();
const callMedia = new CallMediaSlot({
  signaling: sig, state, render, abandon, onOpen: syncRemoteVideo,
  inCall: () => state.phase === 'incall',
  audioElement: els.audio, videoContainer: els.remoteVideo,
});
let timerHandle = null;
let pendingFocus = false;
let reconnectGeneration = 0;

// Take the token out of the fragment and the address bar before anything else.
function takeTokenFromAddress() {
  const fragment = window.location.hash.replace(/^#/, '');
  if (!fragment) return;
  const token = new URLSearchParams(fragment).get('token');
  const url = new URL(window.location.href);
  url.hash = '';
  window.history.replaceState(window.history.state, '', url.pathname + url.search);
  if (token) {
    // A new invitation replaces whatever this tab held before.
    tokens.clear();
    invite.set(token);
  }
}
takeTokenFromAddress();

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function statusText() {
  switch (state.phase) {
    case 'loading':
      return t('join.checking');
    case 'ready':
      return t('join.ready');
    case 'starting':
      return t('line.askingMicrophone');
    case 'joining':
      return t('join.joining');
    case 'resuming':
      return t('join.resuming');
    case 'incall':
      return state.reconnecting ? t('join.reconnecting') : t('join.inCall');
    case 'ended':
    case 'invalid':
      return state.message ? t(state.message.key) : '';
    default:
      return '';
  }
}

function render() {
  const activeBefore = document.activeElement;
  const { phase } = state;
  document.title = t('join.title');
  els.language.hidden = !state.language;
  setText(els.language, state.language
    ? t('join.language', { language: languageName(state.language) }) : '');

  els.join.hidden = !['ready', 'starting', 'joining'].includes(phase);
  els.join.disabled = phase !== 'ready' || !sig.connected;
  els.join.setAttribute('aria-busy', String(phase === 'starting' || phase === 'joining'));
  els.hangup.hidden = phase !== 'incall';
  els.mute.hidden = phase !== 'incall';
  els.mute.setAttribute('aria-pressed', String(state.muted));
  els.retry.hidden = phase !== 'disconnected';

  setText(els.status, statusText());
  els.timer.hidden = phase !== 'incall' || state.connectedAt === null;
  if (!els.timer.hidden) {
    setText(els.timer, t('call.duration', {
      duration: formatDuration((Date.now() - state.connectedAt) / 1000),
    }));
  }
  const listed = phase === 'incall' ? renderRoster(els.participants, roster) : 0;
  els.participantsBox.hidden = listed === 0;
  setText(els.notice, phase === 'incall' ? state.notice : '');

  const video = state.video;
  const videoText = phase === 'incall' ? videoStateText() : '';
  setText(els.videoState, videoText);
  els.videoState.hidden = !videoText;
  const on = phase === 'incall' && video.state === 'on';
  videoArea.render(on, callMedia.current, { canStop: on && sig.connected });
  if (activeBefore === els.stopVideo && (els.videoBox.hidden || els.stopVideo.disabled)) {
    // Stop video went away with the video: focus to what remains of the call.
    const next = [els.mute, els.hangup].find((b) => !b.hidden && !b.disabled);
    if (next) next.focus();
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

// Keep keyboard focus on the action that replaced the one pressed (Join -> Hang up).
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
    } else if (!['incall', 'ready', 'disconnected'].includes(state.phase)) {
      pendingFocus = true;
    } else {
      document.getElementById('main').focus();
      pendingFocus = false;
    }
  }
}

function videoStateText() {
  const video = state.video;
  if (video.state === 'requested') return t('join.video.requested');
  if (video.state === 'on') {
    return t('join.video.on', { purpose: purposeLabel(video.purpose) });
  }
  return video.message ? t(video.message) : '';
}

function applyVideoState(event, { quiet = false } = {}) {
  const video = state.video;
  const before = video.state;
  if (event.state === 'requested' || event.state === 'on') {
    video.state = event.state;
    video.purpose = event.purpose || video.purpose;
    video.message = null;
  } else {
    video.state = 'off';
    video.purpose = null;
    if (before !== 'off') video.message = videoOffKey(VIDEO_OFF_KEYS, event, before);
  }
  syncRemoteVideo();
  if (!quiet && before !== video.state) state.notice = videoStateText();
  render();
}

// Receive-only: the others' pictures are shown while video is on.
function syncRemoteVideo() {
  const media = callMedia.current;
  if (!media) return;
  if (state.video.state === 'on') media.showRemoteVideo();
  else media.hideRemoteVideo();
}

async function stopVideo() {
  if (state.video.state !== 'on') return;
  try {
    await sig.request('video.stop');
  } catch (err) {
    const code = errorCode(err, 'internal_error');
    if (code === 'invalid_state') {
      applyVideoState({ state: 'off', reason: 'stopped' }, { quiet: true });
    } else if (code !== 'connection_closed') {
      state.error = { code };
      render();
    }
  }
}

function startTimer() {
  if (timerHandle === null) timerHandle = window.setInterval(render, 1000);
}

function stopTimer() {
  if (timerHandle !== null) window.clearInterval(timerHandle);
  timerHandle = null;
}

function teardown() {
  stopTimer();
  callMedia.close();
  state.connectedAt = null;
  state.muted = false;
  state.reconnecting = false;
  state.notice = '';
  state.video = { state: 'off', purpose: null, message: null };
  roster.reset();
  reconnectGeneration += 1;
}

function finish(messageKey, phase = 'ended', error = null) {
  teardown();
  tokens.clear();
  state.phase = phase;
  state.message = messageKey ? { key: messageKey } : null;
  state.error = error;
  pendingFocus = true;
  render();
  sig.close();
}

// ---- connecting ---------------------------------------------------------------------------

async function hello() {
  await sig.connect();
  const result = await sig.request('hello', { protocol: PROTOCOL_VERSION });
  state.iceServers = Array.isArray(result.iceServers) ? result.iceServers : [];
  showDemo(result.demoIdentification);
  return result;
}

async function start() {
  state.phase = 'loading';
  state.error = null;
  render();
  try {
    await hello();
  } catch {
    sig.close();
    state.phase = 'disconnected';
    state.error = { code: 'connection_failed' };
    render();
    return;
  }
  if (tokens.get()) {
    await resumeStored();
    return;
  }
  const token = invite.get();
  if (!token) {
    finish('join.missingLink', 'invalid');
    return;
  }
  try {
    const checked = await sig.request('interpreter.check', { token });
    state.language = checked.language || null;
    state.phase = 'ready';
  } catch (err) {
    const code = errorCode(err, 'internal_error');
    if (code === 'invalid_token' || code === 'unknown_call') {
      invite.clear();
      finish(code === 'invalid_token' ? 'join.invalidLink' : 'join.callOver', 'invalid');
      return;
    }
    state.phase = 'disconnected';
    state.error = { code };
  }
  render();
}

function enterCall(result) {
  tokens.set(result.resumeToken);
  state.participantId = result.participantId || state.participantId;
  if (result.language) state.language = result.language;
  if (state.phase !== 'incall') {
    state.connectedAt = Date.now();
    startTimer();
  }
  roster.reset(result.callId || null, state.participantId, result.participants);
  state.phase = 'incall';
  state.error = null;
  const video = result.video || { state: 'off', purpose: null };
  applyVideoState({ state: video.state, purpose: video.purpose }, { quiet: true });
}

async function join() {
  if (state.phase !== 'ready') return;
  pendingFocus = true;
  state.phase = 'starting';
  state.error = null;
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
  state.phase = 'joining';
  render();
  let result;
  try {
    result = await sig.request('interpreter.join', { token: invite.get() });
  } catch (err) {
    stopStream(stream);
    const code = errorCode(err, 'internal_error');
    if (code === 'invalid_token' || code === 'unknown_call') {
      invite.clear();
      finish(code === 'invalid_token' ? 'join.invalidLink' : 'join.callOver', 'invalid');
      return;
    }
    state.phase = 'ready';
    state.error = { code };
    render();
    return;
  }
  invite.clear();
  enterCall(result);
  await callMedia.fresh(stream);
}

// After a reload: back into the call with a new peer connection.
async function resumeStored() {
  state.phase = 'resuming';
  render();
  // The microphone first: the new peer connection must exist as soon as the call is back.
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
    result = await sig.request('resume', { token: tokens.get(), keepMedia: false });
  } catch (err) {
    stopStream(stream);
    const code = errorCode(err, 'internal_error');
    if (FINAL_RESUME_ERRORS.has(code)) {
      finish('join.callOver', 'ended');
      return;
    }
    state.phase = 'disconnected';
    state.error = { code: code === 'timeout' ? 'connection_failed' : code };
    render();
    return;
  }
  pendingFocus = true;
  enterCall(result);
  await callMedia.fresh(stream);
}

async function reconnect() {
  if (state.reconnecting) return;
  state.reconnecting = true;
  render();
  const generation = ++reconnectGeneration;
  let spare = null;
  const outcome = await reconnectLoop({
    cancelled: () => generation !== reconnectGeneration,
    attempt: async () => {
      await hello();
      const keepMedia = mediaKeepable(callMedia.current);
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
    enterCall(outcome.result.result);
    await callMedia.renew(outcome.result.keepMedia, spare);
    return;
  }
  if (FINAL_RESUME_ERRORS.has(outcome.code)) {
    finish('join.callOver', 'ended');
    return;
  }
  finish(null, 'ended', { code: 'connection_lost' });
}

function abandon(code) {
  const connected = sig.connected;
  if (connected) sig.request('hangup').catch(() => {});
  finish('join.left', 'ended', { code });
}

async function hangUp() {
  if (state.phase !== 'incall') return;
  pendingFocus = true;
  const away = state.reconnecting;
  const token = tokens.current();
  teardown();
  tokens.clear();
  state.phase = 'ended';
  state.message = { key: 'join.left' };
  state.error = null;
  render();
  try {
    if (away && token) {
      await hello();
      await sig.request('resume', { token, keepMedia: false });
    }
    await sig.request('hangup');
  } catch {
    // Already over, or the place times out on its own.
  }
  sig.close();
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

const END_KEYS = {
  removed: 'join.ended.removed',
  hangup: 'join.ended.hangup',
  peer_left: 'join.ended.peer_left',
  timeout: 'join.ended.timeout',
  media_failed: 'join.ended.media_failed',
  media_timeout: 'join.ended.media_timeout',
  shutdown: 'join.ended.shutdown',
};

sig.on('participant.joined', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event) || !event.participant) return;
  roster.put(event.participant);
  if (event.participant.id !== state.participantId) announce(joinedText(event.participant));
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
  if (p.id !== state.participantId) announce(leftText(p, event.reason));
  render();
});

sig.on('video.state', (event) => {
  if (state.phase !== 'incall' || !roster.ours(event)) return;
  applyVideoState(event);
});

sig.on('call.ended', (event) => {
  if (state.phase !== 'incall') return;
  finish(END_KEYS[event.reason] || 'join.callOver', 'ended');
});

sig.on('session.replaced', () => {
  if (state.phase !== 'incall') return;
  finish('room.replaced', 'ended');
});

sig.on('closed', () => {
  if (state.phase === 'incall' && tokens.current()) {
    reconnect();
    return;
  }
  if (state.reconnecting || state.phase === 'ended' || state.phase === 'invalid') return;
  teardown();
  state.phase = 'disconnected';
  state.error = { code: 'connection_failed' };
  render();
});

els.join.addEventListener('click', () => {
  join();
});
els.hangup.addEventListener('click', () => {
  hangUp();
});
els.mute.addEventListener('click', toggleMute);
els.stopVideo.addEventListener('click', () => {
  stopVideo();
});
els.retry.addEventListener('click', () => {
  pendingFocus = true;
  start();
});

window.addEventListener('pagehide', () => {
  teardown();
  sig.close();
});
window.addEventListener('pageshow', (event) => {
  if (event.persisted && state.phase !== 'ended' && state.phase !== 'invalid') start();
});

async function main() {
  await initI18n();
  onLanguageChange(() => render());
  render();
  await start();
}

main().catch((err) => console.error('join page failed to start', err));
