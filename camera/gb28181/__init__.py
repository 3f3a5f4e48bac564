"""GB/T 28181-2016: how Sharpeye reaches national-standard devices and platforms.

The protocol pieces live here, beside `camera/rtsp` and `camera/onvif`, because they are
camera-reaching code with no state of their own: SIP messages (`sip_message`), Digest
authentication (`digest`), the asyncio UDP/TCP endpoint with its transactions
(`transport`) and the MANSCDP XML bodies (`manscdp`). The service that holds devices'
registrations, keepalives and catalogs is `ingest.gb28181`.
"""
