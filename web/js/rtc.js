// WebRTC helpers: microphone, one RTCPeerConnection per call, offer/answer over signalling.
//
// The gateway relays all media, so the only ICE servers are the ones `hello` returned
// (often none). No default STUN server is ever added. There is no trickle ICE: each SDP is
// sent once gathering is complete (or after a 3 s safety timeout).
//
// The current peer connection is exposed as window.tukilinjaPc (or null) for tests.

import { SignalingError, errorCode } from './signaling.js';

const GATHERING_TIMEOUT_MS = 3000;

export const AUDIO_CONSTRAINTS = {
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  video: false,
};

window.tukilinjaPc = null;

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
    const name = err && err.name;
    if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
      throw new SignalingError('microphone_denied', String(err));
    }
    if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
      throw new SignalingError('microphone_missing', String(err));
    }
    if (name === 'NotReadableError' || name === 'AbortError' || name === 'TrackStartError') {
      throw new SignalingError('microphone_busy', String(err));
    }
    throw new SignalingError('microphone_unsupported', String(err));
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
 * Negotiation steps (our offers and the gateway's offer events) run one at a time. On
 * `glare` our offer is rolled back, the gateway's offer is answered, then ours is retried.
 */
export class CallMedia {
  constructor({ signaling, iceServers, stream, audioElement, onFailure, onRenegotiationFailure }) {
    this.signaling = signaling;
    this.stream = stream;
    this.audioElement = audioElement;
    this.extraAudio = new Map(); // track id -> <audio> of a second, third … remote track
    this.onFailure = onFailure || (() => {});
    // A gateway offer that cannot be applied (a new participant's audio) need not end a
    // call that is already up: with this callback the current media stays as it is.
    this.onRenegotiationFailure = onRenegotiationFailure || null;
    this.closed = false;
    this.chain = Promise.resolve();
    this.pc = new RTCPeerConnection({ iceServers: Array.isArray(iceServers) ? iceServers : [] });
    window.tukilinjaPc = this.pc;

    for (const track of stream.getAudioTracks()) this.pc.addTrack(track, stream);

    this.pc.addEventListener('track', (event) => this.#playRemote(event));
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

  /** Close the peer connection, stop the microphone, stop playback. Idempotent. */
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

  async #offerOnce() {
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
        this.#enqueue(() => this.#offerOnce()).catch((retryErr) => {
          if (!this.closed) this.onFailure(errorCode(retryErr, 'media_failed'));
        });
        return;
      }
      throw err;
    }
    if (this.closed) return;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: result.sdp });
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
