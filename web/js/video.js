// The video of a call on the call pages (docs/protocol.md, `video.*`): the video area's
// pictures, the purpose's label, why video went off, and the camera of a page that sends
// video (the resident's page and the console; the interpreter's page only receives).
//
// Each page keeps its own texts, its own heading of the video area and its own video state;
// what is the same on every page lives here.

import { t } from './i18n.js';
import { errorCode } from './signaling.js';

export const PURPOSE_LABEL_KEYS = {
  see_document: 'call.videoPurposeLabel.see_document',
  assess_situation: 'call.videoPurposeLabel.assess_situation',
  sign_language: 'call.videoPurposeLabel.sign_language',
  other: 'call.videoPurposeLabel.other',
};

/** The purpose of the video as a short label ("Sign language"); unknown ones as "Other". */
export function purposeLabel(purpose) {
  return t(PURPOSE_LABEL_KEYS[purpose] || PURPOSE_LABEL_KEYS.other);
}

/**
 * The catalog key that says why video went off (a `video.state` off event), from the page's
 * `keys` for declined, withdrawn and stopped. `before`: the video's state before the event.
 */
export function videoOffKey(keys, event, before) {
  let reason = keys[event.reason] ? event.reason : 'stopped';
  // The resident stopping a request they had not answered is not a withdrawal.
  if (reason === 'stopped' && event.by === 'resident' && before === 'on') reason = 'withdrawn';
  return keys[reason];
}

function element(tag, attributes, children = []) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

/**
 * The pictures of a call in the page's video area `box` (a hidden
 * <section id="video-box" aria-labelledby="video-heading"> that holds the page's own heading),
 * appended after what the box already holds: the others' pictures (#remote-video, for
 * CallMedia's videoContainer) with "Waiting for the picture…" (#remote-video-waiting) until
 * one shows, captioned by the catalog key `caption`; with `selfView`, the camera's own
 * picture (#local-video in #local-video-tile, CallMedia's previewElement); then Stop video
 * (#stop-video-button). Built when the page's module loads, so the page's translation
 * (data-i18n) covers it.
 */
export class VideoArea {
  constructor(box, { caption, selfView = false }) {
    this.box = box;
    this.remote = element('div', { id: 'remote-video', class: 'remote-videos' });
    this.waiting = element('p', {
      id: 'remote-video-waiting', class: 'video-waiting', 'data-i18n': 'call.video.waitingPicture',
    });
    const tiles = [element('figure', { class: 'video-tile' }, [
      this.remote, this.waiting, element('figcaption', { 'data-i18n': caption }),
    ])];
    this.selfTile = null;
    this.self = null;
    if (selfView) {
      this.self = element('video', {
        id: 'local-video', class: 'local-video', autoplay: '', playsinline: '', muted: '',
      });
      this.self.muted = true;
      this.selfTile = element('figure', { id: 'local-video-tile', class: 'video-tile video-self' }, [
        this.self, element('figcaption', { 'data-i18n': 'call.video.you' }),
      ]);
      tiles.push(this.selfTile);
    }
    this.stop = element('button', {
      id: 'stop-video-button', type: 'button', class: 'btn btn-secondary', 'data-i18n': 'call.video.stop',
    });
    box.append(
      element('div', { class: 'video-grid' }, tiles),
      element('div', { class: 'actions' }, [this.stop]),
    );
  }

  /**
   * Shown while video is `on`: the own picture while `media` (the current CallMedia or null)
   * sends the camera, the waiting text until a remote picture shows. Stop video is usable
   * while `canStop` (by default while video is on).
   */
  render(on, media, { canStop = on } = {}) {
    this.box.hidden = !on;
    if (this.selfTile) this.selfTile.hidden = !(on && media && media.sendingVideo);
    this.waiting.hidden = !on || Boolean(media && media.remoteVideoCount > 0);
    this.stop.disabled = !canStop;
  }
}

/**
 * The camera of a page that sends video: on while the call's video is on, off when it goes
 * off, fails or is stopped. The page's hooks:
 * - `state`: the page's state object; `state.stepup` holds the current call's video
 *   (`video`: off | requested | on, as video.state says; `camera`: off | starting | on) and
 *   is replaced by a new object for each call; `state.error` ({code}) is the page's alert;
 * - `media()`: the current CallMedia, or null;
 * - `render()`: draws the page again;
 * - `signaling`: the page's SignalingClient;
 * - `stopsRequest`: stopVideo() also takes back a request not answered yet (the console).
 *
 * Returns {start, stop, failed, stopVideo}: start() turns the camera on (CallMedia
 * startVideo), stop() off; failed(code) says the camera or the video failed and stops the
 * video for everyone; stopVideo() is the Stop video button.
 */
export function cameraControl({ state, media, render, signaling, stopsRequest = false }) {
  async function start() {
    const s = state.stepup;
    const current = media();
    if (!current || current.closed || current.videoWanted) return;
    s.camera = 'starting';
    render();
    try {
      await current.startVideo();
    } catch (err) {
      if (media() !== current || state.stepup !== s) return;
      s.camera = 'off';
      if (s.video === 'on') failed(errorCode(err, 'video_failed'));
      render();
      return;
    }
    if (media() !== current || state.stepup !== s) return;
    s.camera = current.sendingVideo ? 'on' : 'off';
    render();
  }

  function stop() {
    state.stepup.camera = 'off';
    const current = media();
    if (current) current.stopVideo().catch(() => {});
  }

  // The camera could not be used or video could not be set up: say so, and stop the video
  // for everyone (the call goes on with audio).
  function failed(code) {
    if (state.stepup.video !== 'on') return;
    state.error = { code: String(code).startsWith('camera_') ? code : 'video_failed' };
    stop();
    render();
    if (signaling.connected) signaling.request('video.stop').catch(() => {});
  }

  // Stop video: the camera goes off at once; the gateway tells everyone (video.state off).
  async function stopVideo() {
    const s = state.stepup;
    if (stopsRequest ? s.video === 'off' : s.video !== 'on') return;
    stop();
    render();
    try {
      await signaling.request('video.stop');
    } catch (err) {
      if (state.stepup !== s) return;
      const code = errorCode(err, 'internal_error');
      if (code === 'invalid_state') s.video = 'off';
      else if (code !== 'connection_closed') state.error = { code };
      render();
    }
  }

  return { start, stop, failed, stopVideo };
}
