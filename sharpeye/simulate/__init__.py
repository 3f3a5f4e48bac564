"""The simulated fleet: real footage (`footage`) served by a real RTSP server (`rtsp_server`,
needs Debian's gi) for registry cameras and extra ones (`fleet`, `sharpeye simulate`).

Nothing is imported here, so importing a submodule never pulls in GStreamer.
"""
