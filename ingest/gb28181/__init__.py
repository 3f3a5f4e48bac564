"""The GB/T 28181 SIP service: devices and lower platforms register here, keep alive, and
answer the catalog query; their state goes to Redis (`sharpeye.bus.gb28181`).

Why in ingest: ingest owns camera sessions, and a GB/T 28181 device is how its cameras are
reached (the next slice INVITEs their channels and feeds the PS-over-RTP video into the
same sessions, health and analytics). The protocol pieces it uses are in `camera.gb28181`;
the API reads the state through the contract on Redis, never by importing this package.
It runs as its own process (`sharpeye gb28181`) so a flood of SIP traffic never stalls an
ingest worker's event loop, and one instance holds the node's SIP port.
"""
