// Staff sign-in from a one-time link: /pro/signin#token=…
// The token is taken out of the address bar at once (it must not stay in history or be
// bookmarked), exchanged for an HttpOnly session cookie, and the console is opened.
// When the gateway has an OpenID Connect provider for staff ([staff_signin]), the page
// also offers "Sign in with <provider>" (GET /pro/signin/oidc); a refused sign-in comes
// back here as /pro/signin?error=<code>.

import { initI18n, t, has, lang } from './i18n.js';
import { checkDemo } from './demo.js';

const $ = (id) => document.getElementById(id);
const els = {
  status: $('status'),
  alert: $('alert'),
  alertText: $('alert-text'),
  oidc: $('oidc'),
  oidcButton: $('oidc-button'),
};

// Read and remove the token before anything else (even before the catalog loads).
function takeToken() {
  const hash = window.location.hash.replace(/^#/, '');
  const token = new URLSearchParams(hash).get('token');
  if (window.location.hash) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
  }
  return token;
}

const token = takeToken();

// A link made for another address names both: the one it was made for and this server's.
function otherServerParams(error) {
  if (!error || typeof error.made_for !== 'string' || typeof error.server !== 'string') {
    return null;
  }
  return { madeFor: error.made_for, server: error.server };
}

function showError(code, params = {}) {
  const key = code && has(`signin.error.${code}`) ? `signin.error.${code}` : 'signin.error.invalid';
  els.status.textContent = '';
  els.alertText.textContent = t(key, params);
  els.alert.hidden = false;
}

// The error a refused OpenID Connect sign-in came back with; taken out of the address.
function takeError() {
  const params = new URLSearchParams(window.location.search);
  const code = params.get('error');
  if (code !== null) {
    params.delete('error');
    const rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (rest ? `?${rest}` : ''));
  }
  return code && /^oidc_[a-z_]+$/.test(code) ? code : null;
}

const oidcError = takeError();

// "Sign in with <provider>" when the gateway has a staff sign-in provider.
async function showProvider() {
  try {
    const response = await fetch('/api/staff/signin-options', {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) return false;
    const options = await response.json();
    const oidc = options && options.oidc;
    if (!oidc || typeof oidc.provider !== 'string' || typeof oidc.url !== 'string') return false;
    els.oidcButton.textContent = t('signin.withProvider', { provider: oidc.provider });
    els.oidcButton.href = `${oidc.url}?lang=${encodeURIComponent(lang())}`;
    els.oidc.hidden = false;
    return true;
  } catch (err) {
    console.warn('sign-in options could not be loaded', err);
    return false;
  }
}

async function main() {
  await initI18n();
  document.title = t('signin.title');
  checkDemo();
  if (!token) {
    const offered = await showProvider();
    if (oidcError) {
      showError(has(`signin.error.${oidcError}`) ? oidcError : 'oidc_failed');
    } else if (!offered) {
      showError('missing');
    }
    return;
  }
  els.status.textContent = t('signin.signingIn');
  let response;
  try {
    response = await fetch('/api/staff/signin', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token }),
    });
  } catch (err) {
    console.warn('sign-in request failed', err);
    showError('network');
    return;
  }
  if (response.ok) {
    els.status.textContent = t('signin.success');
    window.location.replace('/pro');
    return;
  }
  let error = null;
  try {
    const body = await response.json();
    error = body && body.error ? body.error : null;
  } catch {
    // not JSON
  }
  const code = error ? error.code : null;
  if (code === 'token_other_server') {
    const params = otherServerParams(error);
    showError(params ? code : 'invalid', params || {});
    return;
  }
  showError(code || 'invalid');
}

main().catch((err) => console.error('sign-in page failed to start', err));
