"""A lean RTSP/RTP-over-TCP client built for hundreds of cameras per core.

Why our own client instead of one PyAV container per camera: PyAV's RTSP demuxer reads
each interleaved RTP packet with its own syscalls and needs a thread per camera; with
hundreds of cameras the GIL hand-offs dominate (see shared/REFERENCE.md). Here one reader
thread polls many sockets, reads them in bulk and walks the interleaved frames with a few
byte reads each; only the access units analytics asks for reach PyAV's decoder.
"""
