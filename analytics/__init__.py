"""Analytics: detectors as plug-ins, motion gating, batching, tracking and the rules that
turn tracks into sightings and events (see analytics/pipeline.py for the flow)."""
