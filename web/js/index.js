// Front page: the list of service lines with their status, queue and estimated wait.

import {
  initI18n, onLanguageChange, t, lang, describeLineStatus, formatQueueLength, formatLineWait,
  errorMessage,
} from './i18n.js';
import { showDemo } from './demo.js';

const REFRESH_MS = 30000;

const $ = (id) => document.getElementById(id);
const els = {
  status: $('status'),
  alert: $('alert'),
  alertText: $('alert-text'),
  retry: $('retry-button'),
  list: $('lines'),
};

const state = { lines: null, loading: true, error: null };
let refreshHandle = null;

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function buildItem(line) {
  const item = document.createElement('li');
  const article = document.createElement('article');
  article.className = 'card line-card';
  const heading = document.createElement('h3');
  heading.className = 'line-card-name';
  const link = document.createElement('a');
  link.href = `/lines/${encodeURIComponent(line.id)}`;
  link.textContent = line.name;
  heading.append(link);
  article.append(heading);

  if (line.description) {
    const description = document.createElement('p');
    description.className = 'line-description';
    description.textContent = line.description;
    article.append(description);
  }

  const described = describeLineStatus(line.status);
  const stateRow = document.createElement('p');
  stateRow.className = 'line-state';
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.state = described.state;
  badge.textContent = described.label;
  stateRow.append(badge);
  if (described.detail) {
    const detail = document.createElement('span');
    detail.textContent = described.detail;
    stateRow.append(' ', detail);
  }
  article.append(stateRow);

  if (line.status && line.status.open) {
    const queue = document.createElement('p');
    queue.textContent = formatQueueLength(line.status.queueLength);
    article.append(queue);
    if (described.state === 'open') {
      const wait = document.createElement('p');
      wait.textContent = formatLineWait(line.status);
      article.append(wait);
    }
  }
  item.append(article);
  return item;
}

function render() {
  document.title = t('index.title');
  let status = '';
  if (state.loading && state.lines === null) status = t('index.loading');
  else if (state.lines && state.lines.length === 0) status = t('index.noLines');
  setText(els.status, status);

  if (state.error) {
    setText(els.alertText, errorMessage(state.error.code));
    els.alert.hidden = false;
  } else {
    els.alert.hidden = true;
  }

  if (state.lines) {
    els.list.replaceChildren(...state.lines.map(buildItem));
  }
}

async function load() {
  state.loading = true;
  render();
  try {
    const response = await fetch(`/api/lines?lang=${encodeURIComponent(lang())}`, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    state.lines = Array.isArray(body.lines) ? body.lines : [];
    showDemo(body.demoIdentification);
    state.error = null;
  } catch (err) {
    console.warn('could not load service lines', err);
    if (state.lines === null) state.error = { code: 'lines_unavailable' };
  }
  state.loading = false;
  render();
}

function scheduleRefresh() {
  if (refreshHandle !== null) window.clearInterval(refreshHandle);
  refreshHandle = window.setInterval(() => {
    if (document.visibilityState === 'visible') load();
  }, REFRESH_MS);
}

els.retry.addEventListener('click', () => {
  state.error = null;
  load();
});

async function main() {
  await initI18n();
  onLanguageChange(() => {
    render();
    load();
  });
  await load();
  scheduleRefresh();
}

main().catch((err) => console.error('front page failed to start', err));
