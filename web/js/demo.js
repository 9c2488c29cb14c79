// The DEMO banner: on every page while the gateway's demo identification is on (the flag
// `demoIdentification` of `hello` and of /api/lines). Shown with text, not colour alone,
// and announced once to screen readers through a polite live region.

import { t } from './i18n.js';

let shown = false;

/** Show the banner when `on` is true (once; later calls change nothing). */
export function showDemo(on) {
  if (on !== true || shown) return;
  const banner = document.getElementById('demo-banner');
  if (!banner) return;
  shown = true;
  banner.hidden = false;
  const announce = document.getElementById('demo-announce');
  if (!announce) return;
  // A moment after the page's own first announcement; cleared again, so that reading the
  // page later meets the banner itself, not a second copy of it.
  window.setTimeout(() => {
    announce.textContent = `${t('demo.mark')}: ${t('demo.banner')}`;
    window.setTimeout(() => { announce.textContent = ''; }, 10000);
  }, 500);
}

/** For a page that asks the gateway nothing else at first: read the flag from /api/lines. */
export async function checkDemo() {
  try {
    const response = await fetch('/api/lines', {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) return;
    const body = await response.json();
    showDemo(body.demoIdentification);
  } catch (err) {
    console.warn('could not read whether demo identification is on', err);
  }
}
