"""How fast we may call a provider: rate limiters and the back-off between
retries. Plain Python, thread-safe, with injectable clocks for tests."""

import collections
import random
import threading
import time


def backoff_seconds(attempt, base=30, cap=3600, jitter=0.0, random_fn=random.random):
    """Seconds to wait before retry number ``attempt`` (1 for the first):
    ``base``, then doubled each attempt, never above ``cap``.

    Deterministic unless ``jitter`` (0..1) is given: the delay is then reduced
    by up to that fraction, using ``random_fn`` (injectable for tests), so
    that retries of many messages do not all fire at the same second.
    """
    if not 0 <= jitter <= 1:
        raise ValueError("jitter must be between 0 and 1")
    exponent = max(int(attempt), 1) - 1
    # Beyond 2**62 the delay is above any sensible cap; avoid float overflow.
    delay = cap if exponent > 62 else min(cap, base * 2**exponent)
    if jitter:
        delay -= delay * jitter * random_fn()
    return delay


class RateLimiter:
    """Token bucket: ``rate_per_second`` tokens a second, at most ``burst``
    stored. Thread-safe; uses a monotonic clock, injectable with ``sleep``
    for tests.

    With the default ``burst`` of 1, sends are spaced at least
    ``1 / rate_per_second`` apart, so no one-second window ever holds more
    than ``rate_per_second`` sends (Meta's default is 80 per second and
    business number). The bucket counts this process only.
    """

    # Tolerates float rounding so that sleeping exactly the wait time suffices.
    _EPSILON = 1e-9

    def __init__(self, rate_per_second, burst=1, clock=time.monotonic, sleep=None):
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep or time.sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    def _refill(self):
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now

    def _take(self, tokens):
        """Take ``tokens`` now and answer 0, or answer the seconds to wait."""
        with self._lock:
            self._refill()
            if self._tokens + self._EPSILON >= tokens:
                self._tokens = max(0.0, self._tokens - tokens)
                return 0.0
            return (tokens - self._tokens) / self.rate

    def try_acquire(self, tokens=1):
        """Take ``tokens`` if available right now; never waits."""
        if tokens > self.burst:
            raise ValueError("cannot take more tokens than the burst size")
        return self._take(tokens) == 0.0

    def acquire(self, tokens=1, timeout=None):
        """Wait until ``tokens`` are available and take them. Answers False
        when that would take longer than ``timeout`` seconds."""
        if tokens > self.burst:
            raise ValueError("cannot take more tokens than the burst size")
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            wait = self._take(tokens)
            if wait == 0.0:
                return True
            if deadline is not None and self._clock() + wait > deadline:
                return False
            self._sleep(wait)


class WindowRateLimiter:
    """At most ``rate_per_second`` acquisitions in any one-second window, at
    a sustained ``rate_per_second``, spaced evenly.

    Grants follow a schedule of slots ``1 / rate_per_second`` apart, so sends
    leave one by one rather than in bunches that the time between the grant
    and the wire can push into one second at the receiver. A grant that
    comes late keeps the schedule (the next slot is the scheduled one, not
    the wake-up plus a full interval): the slots a busy machine missed (a
    late wake-up, a garbage collection, the database thread holding the
    interpreter) are made up as soon as the hard cap allows, so the number
    keeps its full rate. Only after a pause longer than the window (nothing
    left to send for a while) does the schedule start again from the grant.
    The hard cap comes from the times of the last ``rate_per_second``
    grants: a grant waits until the one ``rate_per_second`` places back is a
    window old, so no window ever holds more than the rate.
    Thread-safe; ``clock`` and ``sleep`` injectable. ``history``, when a
    list, receives every grant time (for benchmarks).
    """

    # Tolerates float rounding so that sleeping exactly the wait time suffices.
    _EPSILON = 1e-9

    def __init__(
        self,
        rate_per_second,
        window=1.0,
        clock=time.monotonic,
        sleep=None,
        history=None,
    ):
        rate = int(rate_per_second)
        if rate < 1:
            raise ValueError("rate_per_second must be at least 1")
        self.rate = rate
        self.window = float(window)
        self.interval = self.window / rate
        self.history = history
        self._clock = clock
        self._sleep = sleep or time.sleep
        self._grants = collections.deque(maxlen=rate)
        self._next_slot = None
        self._lock = threading.Lock()

    def _take(self):
        """Record a grant now and answer 0, or answer the seconds to wait."""
        with self._lock:
            now = self._clock()
            wait = 0.0
            if self._next_slot is not None:
                wait = self._next_slot - now
            if len(self._grants) == self.rate:
                wait = max(wait, self._grants[0] + self.window - now)
            if wait > self._EPSILON:
                return wait
            self._grants.append(now)
            if self.history is not None:
                self.history.append(now)
            if self._next_slot is None or now - self._next_slot > self.window:
                self._next_slot = now + self.interval
            else:
                self._next_slot += self.interval
            return 0.0

    def acquire(self):
        """Wait until sending once more keeps the sends evenly spaced and
        every second within the rate."""
        while True:
            wait = self._take()
            if not wait:
                return True
            self._sleep(wait)


class RefusalCounter:
    """Refused requests per client (an address) over a sliding window, so that
    a client that keeps sending refused requests is turned away before any
    work. Thread-safe; remembers at most ``max_clients`` clients, forgetting
    the one refused longest ago."""

    def __init__(self, limit, window_seconds, max_clients=10000, clock=time.monotonic):
        self.limit = limit
        self.window = window_seconds
        self.max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._refusals = collections.OrderedDict()

    def _recent(self, client, now):
        refusals = self._refusals.get(client)
        while refusals and refusals[0] <= now - self.window:
            refusals.popleft()
        return refusals

    def blocked(self, client):
        """Whether ``client`` reached the limit within the window."""
        with self._lock:
            refusals = self._recent(client, self._clock())
            return bool(refusals) and len(refusals) >= self.limit

    def add(self, client):
        """Count one refused request of ``client``."""
        with self._lock:
            now = self._clock()
            refusals = self._recent(client, now)
            if refusals is None:
                refusals = self._refusals[client] = collections.deque()
            refusals.append(now)
            self._refusals.move_to_end(client)
            while len(self._refusals) > self.max_clients:
                self._refusals.popitem(last=False)

    def clear(self):
        with self._lock:
            self._refusals.clear()
