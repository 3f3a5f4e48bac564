"""The live-video relay: WHEP endpoints per camera, H.264 passthrough fan-out (aiortc)."""
