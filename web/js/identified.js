// After strong identification: /oidc/done?result=ok|cancelled|expired|failed
// The gateway sends the browser here from the provider's callback. The page says only how
// it went (the identity itself goes to the call, never to this page) and asks the person
// to close the window and return to the call.

import { initI18n, t, onLanguageChange } from './i18n.js';

const RESULTS = {
  ok: 'identified.result.ok',
  cancelled: 'identified.result.cancelled',
  expired: 'identified.result.expired',
  failed: 'identified.result.failed',
};

function resultKey() {
  const result = new URLSearchParams(window.location.search).get('result');
  return RESULTS[result] || RESULTS.failed;
}

function render() {
  document.title = t('identified.title');
  document.getElementById('status').textContent = t(resultKey());
}

async function main() {
  await initI18n();
  render();
  onLanguageChange(render);
}

main().catch((err) => console.error('identification page failed to start', err));
