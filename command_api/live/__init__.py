"""Live streams to the API's WebSockets: the process's one hub (`hub`, alarms and camera
health from Redis) and how an authenticated socket is served from it (`stream`)."""
