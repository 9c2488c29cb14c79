// Professional console: the queues of one's own service lines and answering callers.

import {
  initI18n, onLanguageChange, t, lang, describeLineStatus, formatQueueLength, formatLineWait,
  errorMessage, formatDuration,
} from './i18n.js';
import { SignalingClient, PROTOCOL_VERSION, errorCode } from './signaling.js';
import { CallMedia, getMicrophone, stopStream } from './rtc.js';

const $ = (id) => document.getElementById(id);
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
};

// phase: loading | signedout | ready | answering | incall | disconnected
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
};

const sig = new SignalingClient();
let media = null;
let timerHandle = null;
let focusAfterRender = null;

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
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn btn-primary';
  button.dataset.line = id;
  button.addEventListener('click', () => {
    answerNext(id);
  });
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.append(button);
  article.append(heading, stateRow, queue, wait, actions);
  item.append(article);
  return { item, heading, badge, detail, queue, wait, button };
}

function statusMessage() {
  if (state.phase === 'loading') return t('pro.loading');
  if (state.phase === 'answering') return t('pro.answering');
  if (state.phase === 'incall' && state.call) {
    return t('pro.inCall', { line: lineName(state.call.line) });
  }
  if (state.message) return t(state.message.key, state.message.params || {});
  return '';
}

function render() {
  const phase = state.phase;
  document.title = t('pro.title');
  els.signedOut.hidden = phase !== 'signedout';
  els.console.hidden = phase === 'signedout' || phase === 'loading' || !state.me;
  setText(els.greeting, state.me ? t('pro.greeting', { name: state.me.name }) : '');
  els.retryRow.hidden = phase !== 'disconnected';

  const inCall = phase === 'incall';
  els.queueView.hidden = inCall;
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
    const waiting = Boolean(status && status.queueLength > 0);
    card.button.disabled = !(waiting && phase === 'ready' && sig.connected);
    card.button.setAttribute('aria-busy', String(phase === 'answering'));
  }

  if (inCall && state.call) {
    setText(els.timer, t('call.duration', {
      duration: formatDuration((Date.now() - state.call.startedAt) / 1000),
    }));
  }
  els.mute.setAttribute('aria-pressed', String(state.muted));

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

async function connect() {
  try {
    await sig.connect();
    const hello = await sig.request('hello', { protocol: PROTOCOL_VERSION });
    if (hello.role !== 'staff') {
      // The session cookie is missing or expired.
      sig.close();
      state.phase = 'signedout';
      render();
      return;
    }
    state.iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
    const lines = hello.staff && Array.isArray(hello.staff.lines) ? hello.staff.lines : state.me.lines;
    state.me.lines = lines;
    for (const id of lines) {
      if (!state.lines.has(id)) {
        const card = buildCard(id);
        els.cards.append(card.item);
        state.lines.set(id, { card, status: null });
      }
      try {
        const watched = await sig.request('line.watch', { line: id });
        state.lines.get(id).status = watched.status;
      } catch (err) {
        if (err && err.code === 'connection_closed') throw err;
        console.warn(`could not watch line ${id}`, err);
      }
    }
    state.phase = 'ready';
    state.error = null;
  } catch (err) {
    if (state.phase === 'signedout') return;
    sig.close();
    state.phase = 'disconnected';
    state.error = { code: 'connection_failed' };
  }
  render();
}

// ---- call --------------------------------------------------------------------------------

function stopTimer() {
  if (timerHandle !== null) window.clearInterval(timerHandle);
  timerHandle = null;
}

function endCall() {
  stopTimer();
  if (media) media.close();
  media = null;
  state.call = null;
  state.muted = false;
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

  const current = new CallMedia({
    signaling: sig,
    iceServers: state.iceServers,
    stream,
    audioElement: els.audio,
    onFailure: (code) => {
      if (media === current) abandonCall(code);
    },
  });
  media = current;
  state.call = { callId: answered.callId, line: answered.line || id, startedAt: Date.now() };
  state.phase = 'incall';
  focusAfterRender = () => els.hangup;
  render();
  timerHandle = window.setInterval(render, 1000);

  try {
    await current.sendOffer();
  } catch (err) {
    if (media === current) abandonCall(errorCode(err, 'media_failed'));
  }
}

function backToQueue(messageKey, error = null) {
  const line = state.call ? state.call.line : null;
  endCall();
  state.phase = sig.connected ? 'ready' : 'disconnected';
  state.message = messageKey ? { key: messageKey } : null;
  state.error = error;
  const entry = line ? state.lines.get(line) : null;
  focusAfterRender = () => (entry && !entry.card.button.disabled ? entry.card.button : els.signout);
  render();
}

function abandonCall(code) {
  backToQueue('call.ended', { code });
  if (sig.connected) sig.request('hangup').catch(() => {});
}

async function hangUp() {
  if (state.phase !== 'incall') return;
  backToQueue('call.ended');
  try {
    await sig.request('hangup');
  } catch {
    // Already over or the socket is gone.
  }
}

function toggleMute() {
  if (!media) return;
  state.muted = !state.muted;
  media.setMuted(state.muted);
  render();
}

sig.on('line.status', (event) => {
  const entry = state.lines.get(event.line);
  if (!entry || !event.status) return;
  const before = entry.status ? entry.status.queueLength : 0;
  entry.status = event.status;
  if (state.phase === 'ready' && before === 0 && event.status.queueLength > 0) {
    state.message = { key: 'pro.callerWaiting', params: { line: lineName(event.line) } };
  }
  render();
});

sig.on('call.connected', (event) => {
  if (state.call && !state.call.callId && event.callId) state.call.callId = event.callId;
});

sig.on('call.ended', (event) => {
  if (state.phase !== 'incall' || !state.call) return;
  if (event.callId && state.call.callId && event.callId !== state.call.callId) return;
  const reasonKey = event.reason === 'peer_left' ? 'pro.callerLeft' : 'call.ended';
  backToQueue(reasonKey, event.reason === 'media_failed' ? { code: 'media_failed' } : null);
});

sig.on('closed', () => {
  if (state.phase === 'signedout') return;
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
  endCall();
  sig.close();
});

async function main() {
  await initI18n();
  onLanguageChange(async () => {
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
    state.phase = 'signedout';
    render();
    return;
  }
  state.me = me;
  await loadNames();
  await connect();
}

main().catch((err) => console.error('console failed to start', err));
