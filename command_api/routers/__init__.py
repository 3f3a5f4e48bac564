"""One router per resource; `command_api.app` includes them."""
