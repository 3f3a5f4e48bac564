"""camera/: how a camera is reached, for every service that pulls or steers one.

It owns, once for ingest, the relay and PTZ (and later GB/T 28181 media and recording):
- `spec`: the one spec of how a stream is reached and read (`StreamSpec`: URL, login, TLS
  trust, which reader, FFmpeg's transport, plain-Basic consent);
- `resolve`: from a registry camera to that spec: its logins (an ONVIF camera's RTSP login
  defaulting to the device's), its stream URLs (the registry's or the ONVIF device's);
- `rtsp`: our own RTSP/RTSPS client (RTP over TCP, hundreds of cameras a core): handshake
  and Digest/Basic auth, TLS with pinning, SDP, the interleaved stream and the H.264/H.265
  depacketizer that yields access units with their RTP timing, and the error classes that
  explain a failure (credentials always redacted);
- `reader`: the reader interface both readers meet: access units with their timing and the
  counters a camera's health reads;
- `ffmpeg_source` and `ffmpeg`: the FFmpeg (PyAV) reader for the cameras our client cannot
  read, and what it is built from: when a camera may fall back, the URL and options FFmpeg
  opens, parameter sets from its extradata, its messages without secrets;
- `fmp4` and `clip_buffer`: access units remuxed into fragmented MP4 (recording segments,
  alarm clips; no re-encoding), and the rolling in-memory buffer clips are cut from;
- `onvif`: device queries (profiles, stream URIs), WS-Discovery, PTZ and the pool of open
  PTZ sessions, and the `sharpeye onvif` commands' output;
- reconnect delays come from `sharpeye.backoff`, the one retry curve of the platform.

Layers: it sits on `sharpeye/` (registry, credentials) and imports no service; ingest, the
relay and command_api import it (tests/test_layers.py checks both). The threads, selectors
and event loops that drive a pull stay with their service.
"""
