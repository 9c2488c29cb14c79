// Translation catalogs, language choice and text formatting.
//
// Every user-facing string comes from /static/i18n/<lang>.json: a flat object of keys to
// strings with {placeholders}. Elements are translated declaratively:
//   data-i18n="key"              -> textContent
//   data-i18n-aria-label="key"   -> aria-label attribute (any data-i18n-<attr> works)
// Language choice: ?lang=xx, else a saved choice, else navigator.languages, else Finnish.

export const LANGUAGES = ['fi', 'en'];
const DEFAULT_LANGUAGE = 'fi';
const RTL_LANGUAGES = new Set(['ar', 'fa', 'he', 'ur', 'ps', 'ku', 'ckb']);
const STORAGE_KEY = 'tukilinja.lang';

let currentLang = DEFAULT_LANGUAGE;
let catalog = {};
let fallback = null; // Finnish catalog, used for keys missing from another language
const listeners = new Set();

function storageGet() {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function storageSet(value) {
  try {
    window.localStorage.setItem(STORAGE_KEY, value);
  } catch {
    // Storage may be disabled (private mode); the URL still carries the choice.
  }
}

function normalise(tag) {
  if (typeof tag !== 'string') return null;
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.includes(primary) ? primary : null;
}

/** Pick the page language: ?lang=, saved choice, browser preference, Finnish. */
export function chooseLanguage() {
  const fromQuery = normalise(new URLSearchParams(window.location.search).get('lang'));
  if (fromQuery) {
    storageSet(fromQuery);
    return fromQuery;
  }
  const saved = normalise(storageGet());
  if (saved) return saved;
  const preferred = navigator.languages && navigator.languages.length
    ? navigator.languages
    : [navigator.language];
  for (const tag of preferred) {
    const lang = normalise(tag);
    if (lang) return lang;
  }
  return DEFAULT_LANGUAGE;
}

async function fetchCatalog(lang) {
  const response = await fetch(`/static/i18n/${lang}.json`, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`catalog ${lang}: HTTP ${response.status}`);
  return response.json();
}

async function load(lang) {
  const loaded = await fetchCatalog(lang);
  if (lang !== DEFAULT_LANGUAGE && fallback === null) {
    try {
      fallback = await fetchCatalog(DEFAULT_LANGUAGE);
    } catch {
      fallback = {};
    }
  }
  catalog = loaded;
  currentLang = lang;
  const html = document.documentElement;
  html.lang = lang;
  html.dir = RTL_LANGUAGES.has(lang) ? 'rtl' : 'ltr';
}

export function lang() {
  return currentLang;
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(catalog, key)
    || (fallback !== null && Object.prototype.hasOwnProperty.call(fallback, key));
}

/** Translate `key`, filling {placeholders} from `params`. Unknown keys return the key. */
export function t(key, params = {}) {
  let text = catalog[key];
  if (typeof text !== 'string' && fallback) text = fallback[key];
  if (typeof text !== 'string') {
    console.warn(`i18n: missing key ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : match);
}

/** Translate all data-i18n / data-i18n-<attribute> elements under `root`. */
export function applyTranslations(root = document) {
  const elements = root.querySelectorAll('*');
  const all = root === document ? elements : [root, ...elements];
  for (const el of all) {
    if (!el.attributes) continue;
    for (const attr of Array.from(el.attributes)) {
      if (attr.name === 'data-i18n') {
        el.textContent = t(attr.value);
      } else if (attr.name.startsWith('data-i18n-')) {
        el.setAttribute(attr.name.slice('data-i18n-'.length), t(attr.value));
      }
    }
  }
}

/** Called with the new language after every switch (pages re-render dynamic text). */
export function onLanguageChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Load the chosen language and translate the page. Returns the language code. */
export async function initI18n() {
  const wanted = chooseLanguage();
  try {
    await load(wanted);
  } catch (err) {
    if (wanted === DEFAULT_LANGUAGE) throw err;
    await load(DEFAULT_LANGUAGE);
  }
  applyTranslations();
  setupLanguageSwitchers();
  return currentLang;
}

/** Switch language in place (keeps the page and any call), remember it, update the URL. */
export async function setLanguage(newLang) {
  const chosen = normalise(newLang);
  if (!chosen) return;
  storageSet(chosen);
  const url = new URL(window.location.href);
  url.searchParams.set('lang', chosen);
  window.history.replaceState(window.history.state, '', url);
  if (chosen === currentLang) return;
  await load(chosen);
  applyTranslations();
  updateSwitchers();
  for (const fn of listeners) fn(chosen);
}

// Language switcher: <nav data-language-switcher></nav>. Built from real links (?lang=xx)
// that keep the current page; with JavaScript the switch happens in place.
function setupLanguageSwitchers() {
  for (const nav of document.querySelectorAll('[data-language-switcher]')) {
    nav.setAttribute('data-i18n-aria-label', 'lang.switcher');
    nav.setAttribute('aria-label', t('lang.switcher'));
    const list = document.createElement('ul');
    list.className = 'lang-list';
    for (const code of LANGUAGES) {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.className = 'lang-link';
      link.lang = code;
      link.hreflang = code;
      link.dataset.lang = code;
      link.setAttribute('data-i18n', `lang.${code}`);
      link.textContent = t(`lang.${code}`);
      link.addEventListener('click', (event) => {
        event.preventDefault();
        setLanguage(code).catch((err) => console.warn('language switch failed', err));
      });
      item.append(link);
      list.append(item);
    }
    nav.replaceChildren(list);
  }
  updateSwitchers();
}

function updateSwitchers() {
  for (const link of document.querySelectorAll('.lang-link')) {
    const url = new URL(window.location.href);
    url.searchParams.set('lang', link.dataset.lang);
    link.href = url.pathname + url.search + url.hash;
    if (link.dataset.lang === currentLang) {
      link.setAttribute('aria-current', 'true');
    } else {
      link.removeAttribute('aria-current');
    }
  }
}

// ---- formatting -------------------------------------------------------------------------

/** "12:00" -> "12.00" (fi) / "12:00" (en), via the catalog's "time.format". */
export function formatTime(hhmm) {
  const match = /^(\d{1,2}):(\d{2})/.exec(String(hhmm || ''));
  if (!match) return String(hhmm || '');
  return t('time.format', { hours: match[1], minutes: match[2] });
}

/** "2026-11-30" -> "30.11.2026" (fi) / "30 November 2026" (en). */
export function formatDate(isoDate) {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(isoDate || ''));
  if (!match) return String(isoDate || '');
  const month = Number(match[2]);
  return t('date.format', {
    year: match[1],
    month,
    day: Number(match[3]),
    monthName: t(`month.${month}`),
  });
}

function hasEstimate(seconds) {
  return seconds !== null && seconds !== undefined && Number.isFinite(Number(seconds));
}

/** Estimated wait as text: "about 6 minutes" / "noin 6 minuuttia". */
export function formatWait(seconds) {
  if (!hasEstimate(seconds)) return '';
  const s = Math.max(0, Number(seconds));
  if (s < 60) return t('wait.underMinute');
  const minutes = Math.round(s / 60);
  if (minutes <= 1) return t('wait.oneMinute');
  if (minutes < 90) return t('wait.minutes', { minutes });
  const hours = Math.round(minutes / 60);
  if (hours <= 1) return t('wait.oneHour');
  return t('wait.hours', { hours });
}

/** "You are number 2 in the queue. Estimated wait about 6 minutes." */
export function formatQueuePosition(position, seconds) {
  return `${t('queue.position', { position })} ${formatEstimate(seconds)}`;
}

/** "Estimated wait about 6 minutes." or "The wait cannot be estimated right now." */
export function formatEstimate(seconds) {
  return hasEstimate(seconds)
    ? t('queue.estimate', { wait: formatWait(seconds) })
    : t('queue.estimateUnknown');
}

/** Number of people waiting: "No one is waiting" / "1 person in the queue" / "3 people…". */
export function formatQueueLength(count) {
  const n = Number(count) || 0;
  if (n === 0) return t('queue.length.zero');
  if (n === 1) return t('queue.length.one');
  return t('queue.length.many', { count: n });
}

// The line's own calendar date "today", derived from the UTC offset of a timestamp the
// gateway gave in the line's time zone (e.g. "…T12:00:00+02:00"). No browser time zone.
function lineDate(isoWithOffset, addDays = 0) {
  const match = /([+-])(\d{2}):?(\d{2})$|Z$/.exec(String(isoWithOffset || ''));
  if (!match) return null;
  let offsetMinutes = 0;
  if (match[1]) {
    offsetMinutes = (Number(match[2]) * 60 + Number(match[3])) * (match[1] === '-' ? -1 : 1);
  }
  const shifted = new Date(Date.now() + offsetMinutes * 60000 + addDays * 86400000);
  return shifted.toISOString().slice(0, 10);
}

/** "Opens Monday at 12:00" / "Opens today at 12:00" / "Opens tomorrow at 12:00". */
export function formatNextOpening(next) {
  if (!next) return '';
  const time = formatTime(next.time);
  const today = lineDate(next.at);
  if (today && next.date === today) return t('status.opensToday', { time });
  if (today && next.date === lineDate(next.at, 1)) return t('status.opensTomorrow', { time });
  const weekday = t(`weekday.on.${next.weekday}`);
  const within = today && next.date
    ? (Date.parse(`${next.date}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86400000
    : 0;
  if (within > 6) {
    return t('status.opensOnDate', { weekday, date: formatDate(next.date), time });
  }
  return t('status.opens', { weekday, time });
}

/**
 * Describe a LineStatus: {state: 'open'|'full'|'closed', label, detail}.
 * label is short ("Open now"), detail a sentence ("Opens Monday at 12:00").
 */
export function describeLineStatus(status) {
  if (!status) return { state: 'unknown', label: t('status.unknown'), detail: '' };
  if (!status.open) {
    return {
      state: 'closed',
      label: t('status.closed'),
      detail: status.nextOpening ? formatNextOpening(status.nextOpening) : '',
    };
  }
  let detail = '';
  if (status.closesAt) {
    const closeDate = String(status.closesAt).slice(0, 10);
    if (closeDate === lineDate(status.closesAt)) {
      detail = t('status.openUntil', { time: formatTime(String(status.closesAt).slice(11, 16)) });
    }
  }
  if (status.answerable === false) {
    // Open by its hours, but no professional is available: never "Open now".
    return { state: 'unstaffed', label: t('status.unstaffed'), detail: '' };
  }
  if (!status.accepting) {
    return { state: 'full', label: t('status.full'), detail: t('status.fullDetail') };
  }
  return { state: 'open', label: t('status.open'), detail };
}

/** Wait estimate sentence for a line: "Estimated wait about 6 minutes." */
export function formatLineWait(status) {
  if (!status || !status.open) return '';
  return formatEstimate(status.estimatedWaitSeconds);
}

/** Error code -> catalog key, e.g. "queue_full" -> "error.queue_full". */
export function errorMessage(code) {
  const key = `error.${code}`;
  return has(key) ? t(key) : t('error.unknown');
}

/** "1:05" / "1:02:03" call timer. */
export function formatDuration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
