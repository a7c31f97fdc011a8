from __future__ import annotations

from dtsctl.engine.retry import RetryWindow
from dtsctl.engine.throttle import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_one_second_burst_then_delays_proportionally():
    clock = Clock()
    bucket = TokenBucket(100, clock)
    assert bucket.delay_for(100) == 0
    assert bucket.delay_for(50) == 0.5
    clock.now = 1.5  # refilled what was owed plus 100 tokens, capped at one second's worth
    assert bucket.delay_for(100) == 0


def test_token_bucket_with_rate_zero_is_unlimited():
    assert TokenBucket(0).delay_for(10**9) == 0


def test_retry_window_backs_off_then_gives_up_and_resets_on_success():
    clock = Clock()
    window = RetryWindow(minutes=1, clock=clock, first_backoff=1, max_backoff=4)
    assert [window.failed() for _ in range(4)] == [1, 2, 4, 4]
    clock.now = 60
    assert window.failed() is None
    window.succeeded()
    assert window.failed() == 1
