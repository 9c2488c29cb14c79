// WebRTC helpers: microphone and camera, one RTCPeerConnection per call, offer/answer over
// signalling.
//
// The gateway relays all media, so the only ICE servers are the ones `hello` returned
// (often none). No default STUN server is ever added. There is no trickle ICE: each SDP is
// sent once gathering is complete (or after a 3 s safety timeout).
//
// A call is audio-only. Video is added to the same peer connection by renegotiation only
// while the gateway says video is on (docs/protocol.md, `video.*`): startVideo() /
// stopVideo(). The gateway drops every video packet until the resident allows video.
//
// The current peer connection is exposed as window.tukilinjaPc (or null) for tests.

import { SignalingError, errorCode } from './signaling.js';

const GATHERING_TIMEOUT_MS = 3000;
// A remote video track muted this long is taken as stopped: its element is removed (a
// short gap in the packets does not make the picture blink away).
const VIDEO_MUTE_REMOVE_MS = 1500;

export const AUDIO_CONSTRAINTS = {
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  video: false,
};

export const VIDEO_CONSTRAINTS = {
  audio: false,
  video: { width: { ideal: 640 }, height: { ideal: 480 } },
};

window.tukilinjaPc = null;

// getUserMedia's error names as our codes: <device>_denied, _missing, _busy, _unsupported.
function deviceError(err, device) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return new SignalingError(`${device}_denied`, String(err));
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
    return new SignalingError(`${device}_missing`, String(err));
  }
  if (name === 'NotReadableError' || name === 'AbortError' || name === 'TrackStartError') {
    return new SignalingError(`${device}_busy`, String(err));
  }
  return new SignalingError(`${device}_unsupported`, String(err));
}

/**
 * Ask for the microphone. Rejects with SignalingError-like codes:
 * microphone_denied, microphone_missing, microphone_busy, microphone_unsupported.
 */
export async function getMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia
      || typeof RTCPeerConnection === 'undefined') {
    throw new SignalingError('microphone_unsupported', 'getUserMedia not available');
  }
  try {
    return await navigator.mediaDevices.getUserMedia(AUDIO_CONSTRAINTS);
  } catch (err) {
    throw deviceError(err, 'microphone');
  }
}

/**
 * Ask for the camera. Rejects with SignalingError-like codes:
 * camera_denied, camera_missing, camera_busy, camera_unsupported.
 */
export async function getCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new SignalingError('camera_unsupported', 'getUserMedia not available');
  }
  try {
    return await navigator.mediaDevices.getUserMedia(VIDEO_CONSTRAINTS);
  } catch (err) {
    throw deviceError(err, 'camera');
  }
}

export function stopStream(stream) {
  if (!stream) return;
  for (const track of stream.getTracks()) track.stop();
}

/** Resolve when ICE gathering is complete, or after `timeoutMs` at the latest. */
export function waitForIceGathering(pc, timeoutMs = GATHERING_TIMEOUT_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      window.clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = window.setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * One call's media: a peer connection carrying the microphone, remote audio played in
 * `audioElement` (an <audio autoplay> that is in the DOM).
 *
 * Video (only while the gateway says it is on): startVideo() adds the camera, stopVideo()
 * takes it off again; both renegotiate. Remote video tracks play in `videoContainer` as
 * <video autoplay playsinline muted> elements (their sound, if any, is not wanted: the
 * audio tracks play in the audio elements), shown between startVideo() or
 * showRemoteVideo() and stopVideo(), hideRemoteVideo() or close(). The camera's own picture
 * plays in `previewElement` (a <video>). `onVideoChange()` is called when a remote picture
 * appears or goes; `onVideoFailure(code)` when sending video stopped without stopVideo():
 * the camera ended by itself (unplugged, the permission taken back: camera_missing) or a
 * retried video offer failed. The audio is not touched by any of this.
 *
 * Negotiation steps (our offers and the gateway's offer events) run one at a time. On
 * `glare` our offer is rolled back, the gateway's offer is answered, then ours is retried.
 */
export class CallMedia {
  constructor({
    signaling, iceServers, stream, audioElement, onFailure, onRenegotiationFailure,
    videoContainer = null, previewElement = null, onVideoChange = null, onVideoFailure = null,
  }) {
    this.signaling = signaling;
    this.stream = stream;
    this.audioElement = audioElement;
    this.extraAudio = new Map(); // track id -> <audio> of a second, third … remote track
    this.onFailure = onFailure || (() => {});
    // A gateway offer that cannot be applied (a new participant's audio) need not end a
    // call that is already up: with this callback the current media stays as it is.
    this.onRenegotiationFailure = onRenegotiationFailure || null;
    this.videoContainer = videoContainer;
    this.previewElement = previewElement;
    this.onVideoChange = onVideoChange || (() => {});
    this.onVideoFailure = onVideoFailure || (() => {});
    this.videoWanted = false; // between startVideo() and stopVideo()
    this.camera = null; // the camera's MediaStream while video is sent
    this.videoTransceiver = null; // the transceiver our camera goes out on (kept for reuse)
    this.remoteVideo = new Map(); // track id -> {track, el, timer}
    this.remoteVideoShown = false;
    this.closed = false;
    this.chain = Promise.resolve();
    this.pc = new RTCPeerConnection({ iceServers: Array.isArray(iceServers) ? iceServers : [] });
    window.tukilinjaPc = this.pc;

    for (const track of stream.getAudioTracks()) this.pc.addTrack(track, stream);

    this.pc.addEventListener('track', (event) => {
      if (event.track.kind === 'video') this.#takeRemoteVideo(event.track);
      else this.#playRemote(event);
    });
    this.pc.addEventListener('connectionstatechange', () => {
      if (this.pc.connectionState === 'failed' && !this.closed) this.onFailure('media_failed');
    });
    this.offEvent = signaling.on('offer', (event) => {
      this.#enqueue(() => this.#answerGatewayOffer(event.sdp)).catch(async (err) => {
        if (this.closed) return;
        const code = errorCode(err, 'media_failed');
        const established = this.pc.connectionState === 'connected';
        if (this.onRenegotiationFailure && established && code !== 'connection_closed') {
          if (this.pc.signalingState === 'have-remote-offer') {
            try {
              await this.pc.setRemoteDescription({ type: 'rollback' });
            } catch {
              // nothing to roll back
            }
          }
          this.onRenegotiationFailure(code);
          return;
        }
        this.onFailure(code);
      });
    });
  }

  /** Send our offer (microphone) and apply the gateway's answer. */
  sendOffer() {
    return this.#enqueue(() => this.#offerOnce());
  }

  get muted() {
    return this.stream.getAudioTracks().every((track) => !track.enabled);
  }

  setMuted(muted) {
    for (const track of this.stream.getAudioTracks()) track.enabled = !muted;
  }

  /** Is our camera on (sending, or about to)? */
  get sendingVideo() {
    return this.camera !== null;
  }

  /** How many remote pictures are showing now. */
  get remoteVideoCount() {
    let count = 0;
    for (const entry of this.remoteVideo.values()) if (entry.el) count += 1;
    return count;
  }

  /**
   * Turn the camera on and offer it to the gateway; remote pictures are shown. Rejects with
   * camera_* codes (nothing is left running then) or the offer's error. Idempotent.
   */
  async startVideo() {
    if (this.closed) throw new SignalingError('connection_closed', 'the call has ended');
    this.videoWanted = true;
    this.showRemoteVideo();
    if (this.camera) return;
    const camera = await getCamera();
    const [track] = camera.getVideoTracks();
    if (this.closed || this.camera || !this.videoWanted || !track) {
      // Closed, started twice at once, or stopped while the browser asked for the camera.
      stopStream(camera);
      if (this.closed) throw new SignalingError('connection_closed', 'the call has ended');
      if (!track) throw new SignalingError('camera_missing', 'no video track');
      return;
    }
    this.camera = camera;
    track.addEventListener('ended', () => {
      if (this.camera === camera) this.onVideoFailure('camera_missing');
    });
    this.#showPreview(camera);
    try {
      await this.#enqueue(async () => {
        if (this.camera !== camera) return; // stopped while waiting for its turn
        const transceiver = this.#reusableVideoTransceiver();
        if (transceiver) {
          await transceiver.sender.replaceTrack(track);
          transceiver.direction = 'sendrecv';
          if (transceiver.sender.setStreams) transceiver.sender.setStreams(this.stream);
        } else {
          // addTransceiver, not addTrack: addTrack could take a receive-only transceiver of
          // the gateway's offer (someone else's video), on which the gateway never receives.
          this.videoTransceiver = this.pc.addTransceiver(track, {
            direction: 'sendrecv', streams: [this.stream],
          });
        }
        await this.#offerOnce({ video: true });
      });
    } catch (err) {
      if (this.camera === camera) this.#stopCamera();
      throw err;
    }
  }

  /**
   * Turn the camera off and renegotiate so that nothing is sent; remote pictures go.
   * Resolves when the gateway has the new offer (at once when no camera was sent).
   */
  stopVideo() {
    this.videoWanted = false;
    this.hideRemoteVideo();
    const wasSending = this.#stopCamera();
    const transceiver = this.videoTransceiver;
    if (this.closed || !transceiver || !wasSending) return Promise.resolve();
    return this.#enqueue(async () => {
      if (this.camera || transceiver.currentDirection === 'stopped'
          || transceiver.direction === 'stopped') return; // on again already, or gone
      await transceiver.sender.replaceTrack(null);
      transceiver.direction = 'recvonly';
      await this.#offerOnce({ video: true });
    });
  }

  /** Show remote pictures (a page that only receives, such as the interpreter's). */
  showRemoteVideo() {
    if (this.closed) return;
    this.remoteVideoShown = true;
    for (const entry of this.remoteVideo.values()) {
      if (entry.track.readyState === 'live' && !entry.track.muted) this.#attachRemoteVideo(entry);
    }
  }

  /** Remove the remote pictures (they come back with showRemoteVideo or startVideo). */
  hideRemoteVideo() {
    this.remoteVideoShown = false;
    let removed = false;
    for (const entry of this.remoteVideo.values()) removed = this.#detachRemoteVideo(entry) || removed;
    if (removed) this.onVideoChange();
  }

  /** Close the peer connection, stop the microphone and camera, stop playback. Idempotent. */
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.offEvent) this.offEvent();
    try {
      this.pc.close();
    } catch {
      // already closed
    }
    stopStream(this.stream);
    this.#stopCamera();
    this.remoteVideoShown = false;
    for (const entry of this.remoteVideo.values()) this.#detachRemoteVideo(entry);
    this.remoteVideo.clear();
    for (const el of this.extraAudio.values()) {
      el.pause();
      el.srcObject = null;
      el.remove();
    }
    this.extraAudio.clear();
    if (this.audioElement) {
      this.audioElement.pause();
      this.audioElement.srcObject = null;
    }
    if (window.tukilinjaPc === this.pc) window.tukilinjaPc = null;
  }

  #enqueue(step) {
    const run = this.chain.then(() => (this.closed ? undefined : step()));
    this.chain = run.catch(() => {});
    return run;
  }

  // `video`: a renegotiation for the camera; when it fails the call stays as it was.
  async #offerOnce({ video = false } = {}) {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await waitForIceGathering(this.pc);
    if (this.closed) return;
    let result;
    try {
      result = await this.signaling.request('offer', { sdp: this.pc.localDescription.sdp });
    } catch (err) {
      if (err && err.code === 'glare' && !this.closed) {
        // The gateway's own offer is on its way (or queued behind us): roll back, let
        // it be answered first, then offer again.
        await this.pc.setLocalDescription({ type: 'rollback' });
        this.#enqueue(() => this.#offerOnce({ video })).catch((retryErr) => {
          if (this.closed) return;
          if (video) this.onVideoFailure(errorCode(retryErr, 'media_failed'));
          else this.onFailure(errorCode(retryErr, 'media_failed'));
        });
        return;
      }
      if (video) await this.#rollbackLocalOffer();
      throw err;
    }
    if (this.closed) return;
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: result.sdp });
    } catch (err) {
      if (video) await this.#rollbackLocalOffer();
      throw err;
    }
  }

  // A renegotiation for video that failed leaves the call as it was before it.
  async #rollbackLocalOffer() {
    if (this.closed || this.pc.signalingState !== 'have-local-offer') return;
    try {
      await this.pc.setLocalDescription({ type: 'rollback' });
    } catch {
      // nothing to roll back
    }
  }

  async #answerGatewayOffer(sdp) {
    if (this.pc.signalingState === 'have-local-offer') {
      await this.pc.setLocalDescription({ type: 'rollback' });
    }
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await waitForIceGathering(this.pc);
    if (this.closed) return;
    await this.signaling.request('answer', { sdp: this.pc.localDescription.sdp });
  }

  // Our own video transceiver from an earlier startVideo, when it can carry the camera again.
  #reusableVideoTransceiver() {
    const transceiver = this.videoTransceiver;
    if (!transceiver || !this.pc.getTransceivers().includes(transceiver)) return null;
    if (transceiver.currentDirection === 'stopped' || transceiver.direction === 'stopped'
        || transceiver.stopped) return null;
    return transceiver;
  }

  // Stop the camera and its preview; true when there was one.
  #stopCamera() {
    const camera = this.camera;
    this.camera = null;
    if (this.previewElement) {
      this.previewElement.pause();
      this.previewElement.srcObject = null;
    }
    if (!camera) return false;
    stopStream(camera);
    return true;
  }

  #showPreview(camera) {
    const el = this.previewElement;
    if (!el) return;
    el.muted = true;
    el.playsInline = true;
    el.srcObject = camera;
    el.play().catch(() => {});
  }

  // A remote video track: its picture is shown while it is live and not muted (the
  // gateway's packets arrive) and pictures are wanted; removed when it ends or stays muted.
  #takeRemoteVideo(track) {
    if (this.remoteVideo.has(track.id)) {
      const known = this.remoteVideo.get(track.id);
      if (this.remoteVideoShown && !track.muted) this.#attachRemoteVideo(known);
      return;
    }
    const entry = { track, el: null, timer: null };
    this.remoteVideo.set(track.id, entry);
    track.addEventListener('unmute', () => {
      window.clearTimeout(entry.timer);
      entry.timer = null;
      if (this.remoteVideoShown && !this.closed) this.#attachRemoteVideo(entry);
    });
    track.addEventListener('mute', () => {
      window.clearTimeout(entry.timer);
      entry.timer = window.setTimeout(() => {
        entry.timer = null;
        if (track.muted && this.#detachRemoteVideo(entry)) this.onVideoChange();
      }, VIDEO_MUTE_REMOVE_MS);
    });
    track.addEventListener('ended', () => {
      window.clearTimeout(entry.timer);
      this.remoteVideo.delete(track.id);
      if (this.#detachRemoteVideo(entry)) this.onVideoChange();
    });
    if (this.remoteVideoShown && !track.muted) this.#attachRemoteVideo(entry);
  }

  #attachRemoteVideo(entry) {
    if (!this.videoContainer || this.closed) return;
    if (!entry.el) {
      const el = document.createElement('video');
      el.autoplay = true;
      el.muted = true;
      el.playsInline = true;
      el.setAttribute('playsinline', '');
      el.className = 'remote-video';
      el.dataset.trackId = entry.track.id;
      el.srcObject = new MediaStream([entry.track]);
      this.videoContainer.append(el);
      entry.el = el;
      this.onVideoChange();
    }
    entry.el.play().catch(() => {});
  }

  #detachRemoteVideo(entry) {
    window.clearTimeout(entry.timer);
    entry.timer = null;
    if (!entry.el) return false;
    entry.el.pause();
    entry.el.srcObject = null;
    entry.el.remove();
    entry.el = null;
    return true;
  }

  // Each remote audio track plays in an element of its own: an <audio> element plays only
  // one audio track of a MediaStream, and in a call of three each participant receives two.
  #playRemote(event) {
    const first = this.audioElement;
    if (!first || event.track.kind !== 'audio') return;
    let el = first;
    const taken = first.srcObject instanceof MediaStream
      && first.srcObject.getAudioTracks().some((track) => track !== event.track);
    if (taken) {
      el = this.extraAudio.get(event.track.id);
      if (!el) {
        el = document.createElement('audio');
        el.autoplay = true;
        el.hidden = true;
        first.after(el);
        this.extraAudio.set(event.track.id, el);
      }
    }
    if (!(el.srcObject instanceof MediaStream)
        || !el.srcObject.getAudioTracks().includes(event.track)) {
      el.srcObject = new MediaStream([event.track]);
    }
    const play = () => el.play().catch(() => {});
    play();
    event.track.addEventListener('unmute', play);
  }
}
