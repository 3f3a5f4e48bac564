"""Camera ingest: RTSP sessions, health, frame sampling and ONVIF."""
