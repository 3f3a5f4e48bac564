"""Alarms: rules that turn events into alarms, routing, lifecycle, escalation, live fan-out."""
