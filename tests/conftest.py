"""Shared fixtures: real peers started by the tests themselves (see each plugin module)."""

pytest_plugins = [
    "tests.fixtures_fleet",
    "tests.fixtures_gb28181",
    "tests.fixtures_postgres",
    "tests.fixtures_redis",
    "tests.relay.fixtures_relay",
]
