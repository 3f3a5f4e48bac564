"""Delivery that loses nothing: the outbox (same transaction as the alarm) and its worker."""
