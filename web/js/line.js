// Resident page of one service line: status, queue and an anonymous voice call; inside the
// call, strong identification when the professional asks for it and video only with the
// resident's consent (docs/protocol.md, `identify.*`, `video.*`).

import {
  initI18n, onLanguageChange, t, lang, describeLineStatus, formatQueueLength, formatLineWait,
  formatQueuePosition, errorMessage, formatDuration, has, formatNextOpening, formatTime,
} from './i18n.js';
import { SignalingClient, PROTOCOL_VERSION, errorCode } from './signaling.js';
import { showDemo } from './demo.js';
import { getMicrophone, stopStream } from './rtc.js';
import {
  TokenStore, Roster, renderRoster, reconnectLoop, FINAL_RESUME_ERRORS, mediaKeepable, joinedText, leftText,
  reconnectingText, backText, levelText, CallMediaSlot,
} from './room.js';
import { VideoArea, cameraControl } from './video.js';

const $ = (id) => document.getElementById(id);
const videoArea = new VideoArea($('video-box'), { caption: 'line.video.remote', selfView: true });
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
  identifyBox: $('identify-box'),
  identifyHeading: $('identify-heading'),
  identifyText: $('identify-text'),
  identifyExplain: $('identify-explain'),
  identify: $('identify-button'),
  identifyFallback: $('identify-fallback'),
  identifyLink: $('identify-link'),
  videoDialog: $('video-dialog'),
  videoPurpose: $('video-purpose'),
  allowVideo: $('allow-video-button'),
  declineVideo: $('decline-video-button'),
  videoBox: videoArea.box,
  videoState: $('video-state'),
  remoteVideo: videoArea.remote,
  localVideo: videoArea.self,
  stopVideo: videoArea.stop,
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
  stepup: freshStepUp(), // identification and video in the current call
};

// Identification and video of one call; replaced by a fresh one when the call ends.
function freshStepUp() {
  return {
    identify: 'none', // none | requested | opening | opened | blocked | failed | identified
    provider: null, // the identification provider's name, from identify.requested
    level: null, // substantial | high, once identified
    failed: null, // the code of the last identify.failed
    url: null, // the provider's address while the flow is open (the fallback link)
    video: 'off', // off | requested | on, as the gateway's video.state says
    purpose: null,
    answering: false, // Allow video or Decline pressed, the gateway's answer not yet here
    camera: 'off', // off | starting | on
  };
}

const IDENTIFY_FAILED_KEYS = {
  cancelled: 'line.identify.failed.cancelled',
  level_too_low: 'line.identify.failed.level_too_low',
  expired: 'line.identify.failed.expired',
  failed: 'line.identify.failed.failed',
};
const IDENTIFY_STATE_KEYS = {
  requested: 'line.identify.requested',
  opening: 'line.identify.opening',
  opened: 'line.identify.opened',
  blocked: 'line.identify.blocked',
};
const PURPOSE_KEYS = {
  see_document: 'line.videoPurpose.see_document',
  assess_situation: 'line.videoPurpose.assess_situation',
  sign_language: 'line.videoPurpose.sign_language',
  other: 'line.videoPurpose.other',
};

const sig = new SignalingClient();
let pendingStream = null;
let timerHandle = null;
let pendingFocus = false;
const tokens = new TokenStore(`line.${lineId}`);
const roster = new Roster();
let reconnectGeneration = 0;
let identifyWindow = null; // the provider's popup, closed when the flow is over
let focusVideoDialog = false;
const camera = cameraControl({ state, media: () => callMedia.current, render, signaling: sig });
const callMedia = new CallMediaSlot({
  signaling: sig, state, render, abandon: abandonCall, onVideoFailure: camera.failed,
  inCall: () => state.phase === 'queued' || state.phase === 'connected',
  audioElement: els.audio, videoContainer: els.remoteVideo, previewElement: els.localVideo,
});

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

  renderStepUp();
  keepStepUpFocus(activeBefore);
  manageFocus(activeBefore);
}

function identifyText() {
  const s = state.stepup;
  if (s.identify === 'identified') {
    return s.provider
      ? t('line.identify.done', { level: levelText(s.level), provider: s.provider })
      : t('line.identify.doneLevel', { level: levelText(s.level) });
  }
  if (s.identify === 'failed') return t(IDENTIFY_FAILED_KEYS[s.failed] || IDENTIFY_FAILED_KEYS.failed);
  return IDENTIFY_STATE_KEYS[s.identify] ? t(IDENTIFY_STATE_KEYS[s.identify]) : '';
}

function videoOffText(by, reason) {
  if (reason === 'declined') return t('line.video.off.declined');
  if (reason === 'withdrawn' || by === 'resident') return t('line.video.off.withdrawn');
  if (by === 'professional') return t('line.video.off.professional');
  if (by === 'interpreter') return t('line.video.off.interpreter');
  return t('line.video.off.stopped');
}

function renderStepUp() {
  const s = state.stepup;
  const inCall = state.phase === 'connected';
  const online = sig.connected && !state.reconnecting;

  els.identifyBox.hidden = !inCall || s.identify === 'none';
  setText(els.identifyText, inCall ? identifyText() : '');
  const flowOpen = inCall && s.identify !== 'none' && s.identify !== 'identified';
  els.identifyExplain.hidden = !flowOpen;
  setText(els.identifyExplain, s.provider
    ? t('line.identify.explain', { provider: s.provider }) : t('line.identify.explainNoProvider'));
  // Identify stays while the flow is open: pressed again it starts a new flow (the window
  // was closed by mistake, say); the old one stops working.
  // While a flow is being opened it is busy, not disabled (a disabled button loses focus);
  // identify() ignores a second press.
  els.identify.hidden = !flowOpen;
  els.identify.disabled = !online;
  els.identify.setAttribute('aria-busy', String(s.identify === 'opening'));
  const blocked = flowOpen && s.identify === 'blocked' && Boolean(s.url);
  els.identifyFallback.hidden = !blocked;
  if (blocked) els.identifyLink.href = s.url;
  else els.identifyLink.removeAttribute('href');

  const asking = inCall && s.video === 'requested';
  setText(els.videoPurpose, s.purpose ? t(PURPOSE_KEYS[s.purpose] || PURPOSE_KEYS.other) : '');
  // aria-disabled, not disabled: the pressed button keeps focus while the gateway answers.
  for (const button of [els.allowVideo, els.declineVideo]) {
    button.setAttribute('aria-disabled', String(s.answering || !online));
  }
  els.allowVideo.setAttribute('aria-busy', String(s.answering));
  if (asking && !els.videoDialog.open) {
    els.videoDialog.show();
    focusVideoDialog = true;
  } else if (!asking && els.videoDialog.open) {
    els.videoDialog.close();
  }
  if (focusVideoDialog && els.videoDialog.open) els.videoDialog.focus();
  focusVideoDialog = false;

  const on = inCall && s.video === 'on';
  videoArea.render(on, callMedia.current);
  setText(els.videoState, on ? t(s.camera === 'starting' ? 'line.video.starting' : 'line.video.on') : '');
}

// Focus that was in the identification or video parts when they changed (the dialog
// answered, the video stopped, identified) goes to what replaced them, not to <body>.
function keepStepUpFocus(activeBefore) {
  if (!activeBefore) return;
  let next;
  if (els.identifyBox.contains(activeBefore)) next = [els.identify, els.identifyHeading];
  else if (els.videoDialog.contains(activeBefore) || els.videoBox.contains(activeBefore)) {
    next = [els.stopVideo];
  } else {
    return;
  }
  const shown = (el) => el.isConnected && !el.disabled && !el.closest('[hidden]')
    && !(el.closest('dialog') && !el.closest('dialog').open);
  const active = document.activeElement;
  // Closing a dialog gives focus back to what had it before the question came (Hang up,
  // say): after an answer it goes on from the answer instead.
  const answered = els.videoDialog.contains(activeBefore) && !els.videoDialog.open;
  if (!answered && active && active !== document.body && shown(active)) return;
  (next.find(shown) || els.callHeading).focus();
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
  callMedia.close();
  if (pendingStream) stopStream(pendingStream);
  pendingStream = null;
  state.connectedAt = null;
  state.muted = false;
  state.position = null;
  state.wait = null;
  state.reconnecting = false;
  state.participantId = null;
  state.notice = '';
  forgetStepUp();
  roster.reset();
  reconnectGeneration += 1;
}

// The call is over: no identification flow, no question, no video any more.
function forgetStepUp() {
  state.stepup = freshStepUp();
  if (els.videoDialog.open) els.videoDialog.close();
  closeIdentifyWindow();
}

function closeIdentifyWindow() {
  const popup = identifyWindow;
  identifyWindow = null;
  try {
    if (popup && !popup.closed) popup.close();
  } catch {
    // not ours to close any more
  }
}

function fail(code, phase = 'idle') {
  teardownMedia();
  tokens.clear();
  state.phase = phase;
  state.message = null;
  state.error = { code };
  render();
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
  const current = callMedia.open(stream);
  state.phase = 'queued';
  render();

  try {
    await current.sendOffer();
  } catch (err) {
    if (callMedia.current === current && !state.reconnecting) {
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
  restoreStepUp(result);
  render();
  // The kept peer connection, or a fresh one (after a reload, or when the old one did not
  // survive the drop).
  await callMedia.renew(keptMedia, stream);
  // A fresh peer connection carries the camera again when video is on.
  if (state.phase === 'connected' && state.stepup.video === 'on') camera.start();
}

// Back in a call (resume): whether this resident is identified, and the call's video.
function restoreStepUp(result) {
  if (result.phase !== 'call') return;
  const s = state.stepup;
  const self = (Array.isArray(result.participants) ? result.participants : [])
    .find((p) => p && p.id === state.participantId);
  if (self && self.identified) {
    s.identify = 'identified';
    s.level = self.identified;
  }
  const video = result.video || { state: 'off', purpose: null };
  applyVideoState({ state: video.state, purpose: video.purpose }, { quiet: true, startCamera: false });
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
  if (!callMedia.current) return;
  state.muted = !state.muted;
  callMedia.current.setMuted(state.muted);
  render();
}

function announce(text) {
  state.notice = text;
  render();
}

// ---- identification and video -------------------------------------------------------------

// Identify: a new flow at the gateway, its address opened in a popup (or, when the browser
// blocks it, a link the resident follows to a new tab). The call page stays where it is.
async function identify() {
  const s = state.stepup;
  if (state.phase !== 'connected' || s.identify === 'none' || s.identify === 'identified'
    || s.identify === 'opening') return;
  s.identify = 'opening';
  s.url = null;
  state.error = null;
  render();
  let url = null;
  try {
    const result = await sig.request('identify.start');
    url = safeUrl(result && result.url);
    if (!url) throw Object.assign(new Error('no address'), { code: 'internal_error' });
  } catch (err) {
    if (state.stepup !== s || s.identify !== 'opening') return;
    s.identify = 'requested';
    state.error = { code: errorCode(err, 'internal_error') };
    render();
    return;
  }
  if (state.stepup !== s || s.identify !== 'opening') return;
  s.url = url;
  s.identify = openIdentifyWindow(url) ? 'opened' : 'blocked';
  announce(identifyText());
}

// Only web addresses are opened (never javascript: or the like).
function safeUrl(value) {
  if (typeof value !== 'string' || !value) return null;
  try {
    const url = new URL(value, window.location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

function openIdentifyWindow(url) {
  closeIdentifyWindow();
  let popup = null;
  try {
    popup = window.open(url, 'tukilinja-identify', 'popup,width=520,height=720');
  } catch {
    popup = null;
  }
  if (!popup) return false;
  // The provider's pages get no handle on this page (window.opener): cut it while the
  // popup is still the opener's about:blank. The reference kept here only closes it.
  try {
    popup.opener = null;
  } catch {
    // already cut
  }
  identifyWindow = popup;
  return true;
}

// `startCamera`: false when the caller starts the camera itself (on the peer connection
// that will carry it).
function applyVideoState(event, { quiet = false, startCamera = true } = {}) {
  const s = state.stepup;
  const before = s.video;
  s.answering = false;
  if (event.state === 'requested') {
    s.video = 'requested';
    s.purpose = event.purpose || null;
    if (!quiet && before !== 'requested') state.notice = t('line.video.asked');
  } else if (event.state === 'on') {
    s.video = 'on';
    s.purpose = event.purpose || s.purpose;
    if (!quiet && before !== 'on') state.notice = t('line.video.on');
    if (startCamera) camera.start();
  } else {
    s.video = 'off';
    s.purpose = null;
    camera.stop();
    if (!quiet && before !== 'off') state.notice = videoOffText(event.by, event.reason);
  }
  render();
}

async function answerVideo(allow) {
  const s = state.stepup;
  if (state.phase !== 'connected' || s.video !== 'requested' || s.answering || !sig.connected) return;
  s.answering = true;
  state.error = null;
  render();
  try {
    await sig.request('video.consent', { allow });
  } catch (err) {
    if (state.stepup !== s || !s.answering) return;
    s.answering = false;
    const code = errorCode(err, 'internal_error');
    // No question waiting any more (taken back meanwhile): nothing to answer.
    if (code === 'invalid_state') s.video = 'off';
    else state.error = { code };
    render();
  }
}

sig.on('identify.requested', (event) => {
  if (state.phase !== 'connected' || !roster.ours(event)) return;
  const s = state.stepup;
  if (s.identify === 'identified') return;
  if (event.provider) s.provider = String(event.provider);
  // Asked again while the provider's window is open: that flow goes on.
  if (s.identify !== 'opening' && s.identify !== 'opened') s.identify = 'requested';
  // Announced, not focused: the resident may be in the middle of something; Identify is
  // the next button in the call panel.
  announce(t('line.identify.requested'));
});

sig.on('participant.identified', (event) => {
  if (state.phase !== 'connected' || !roster.ours(event)) return;
  if (event.participantId && roster.byId.has(event.participantId)) {
    roster.put({ id: event.participantId, identified: event.level || null });
  }
  if (event.participantId !== state.participantId) return;
  const s = state.stepup;
  s.identify = 'identified';
  s.level = event.level || s.level;
  if (event.provider) s.provider = String(event.provider);
  s.url = null;
  closeIdentifyWindow();
  announce(identifyText());
});

sig.on('identify.failed', (event) => {
  if (state.phase !== 'connected' || !roster.ours(event)) return;
  const s = state.stepup;
  if (s.identify === 'identified') return;
  s.identify = 'failed';
  s.failed = IDENTIFY_FAILED_KEYS[event.code] ? event.code : 'failed';
  s.url = null;
  closeIdentifyWindow();
  announce(identifyText());
});

sig.on('video.state', (event) => {
  if (state.phase !== 'connected' || !roster.ours(event)) return;
  applyVideoState(event);
});

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
els.identify.addEventListener('click', () => {
  identify();
});
els.allowVideo.addEventListener('click', () => {
  if (els.allowVideo.getAttribute('aria-disabled') !== 'true') answerVideo(true);
});
els.declineVideo.addEventListener('click', () => {
  if (els.declineVideo.getAttribute('aria-disabled') !== 'true') answerVideo(false);
});
els.stopVideo.addEventListener('click', () => {
  camera.stopVideo();
});
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
  // The token stays: a reload (or the back/forward cache) comes back into the place. So
  // does an identification being completed in the provider's window: it is left open.
  identifyWindow = null;
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
