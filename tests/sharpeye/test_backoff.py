"""The platform's one retry curve: exponential ceiling, full jitter, never below the base."""

from __future__ import annotations

import random

from sharpeye.backoff import Backoff


def test_the_ceiling_doubles_up_to_the_cap_and_jitter_stays_inside() -> None:
    b = Backoff(base_s=0.5, max_s=4.0)
    rng = random.Random(7)
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0), (60, 4.0)]:
        delays = [b.delay_after(failures, rng) for _ in range(200)]
        assert min(delays) >= 0.5 and max(delays) <= ceiling
        if ceiling > 1.0:  # jittered: spread over the range, not one value
            assert max(delays) - min(delays) > (ceiling - 0.5) / 2


def test_next_delay_counts_failures_and_reset_starts_again() -> None:
    b = Backoff(base_s=1.0, max_s=30.0)
    seeded, twin = random.Random(3), random.Random(3)
    first = [b.next_delay(seeded) for _ in range(4)]
    assert b.attempts == 4
    assert first == [Backoff(1.0, 30.0).delay_after(n, twin) for n in range(1, 5)]
    b.reset()
    assert b.attempts == 0 and b.next_delay() == 1.0  # the first retry waits the base


def test_a_count_of_zero_or_less_is_the_first_delay_not_an_error() -> None:
    b = Backoff(base_s=0.2, max_s=5.0)
    assert b.delay_after(0) == 0.2 and b.delay_after(-3) == 0.2
