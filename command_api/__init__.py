"""The command API (FastAPI): camera catalog and health views; serves the wall UI."""
