"""The fake Graph API (fake_graph.py) served from a child process, so that its
clock sees arrivals as a provider would, not slowed by the threads of the
process that sends.

``FakeGraphProcess(latency, lifetime)`` starts it and knows its
``base_url``. The messages it receives are reported in one of two ways:

- ``message_times()`` stops the fake and answers the arrival times
  (monotonic clock) of every message, sorted;
- with ``stream=True``, each message is put on ``arrivals`` as it comes, as
  ``(recipient, monotonic arrival time)``.

Standard library only, loaded by path by the bench commands (Odoo loads them
as ``odoo.cli.<name>``, outside the addon's package).
"""

import importlib.util
import multiprocessing
from pathlib import Path

_FAKE_GRAPH = Path(__file__).resolve().parent / "fake_graph.py"
# How often a streaming fake looks for new messages, in seconds.
_STREAM_INTERVAL = 0.002


def _load_fake_graph():
    spec = importlib.util.spec_from_file_location("dunning_fake_graph", _FAKE_GRAPH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeGraphProcess:
    """The fake Graph API served from a child process; ``templates`` are
    ``(name, body)`` of approved templates it lists."""

    def __init__(self, latency, lifetime, templates=(), stream=False):
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self.arrivals = context.Queue()
        ready = context.Queue()
        self._process = context.Process(
            target=_serve,
            args=(
                latency,
                lifetime,
                templates,
                stream,
                ready,
                self._stop,
                self.arrivals,
            ),
        )
        self._process.daemon = True
        self._process.start()
        self.base_url = ready.get(timeout=30)

    def message_times(self):
        """Arrival times (monotonic clock) of the message POSTs so far."""
        self._stop.set()
        times = self.arrivals.get(timeout=60)
        self._process.join(timeout=10)
        return times

    def stop(self):
        self._stop.set()
        if self._process.is_alive():
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()


def _is_message(request):
    return request["path"].endswith("/messages")


def _serve(latency, lifetime, templates, stream, ready, stop, arrivals):
    fake_graph = _load_fake_graph()
    with fake_graph.FakeGraph(
        latency=latency,
        lifetime=lifetime,
        templates=[fake_graph.template(name, body) for name, body in templates],
    ) as fake:
        ready.put(fake.base_url)
        if not stream:
            stop.wait()
            arrivals.put(
                sorted(
                    request["time"] for request in fake.requests if _is_message(request)
                )
            )
            return
        reported = 0
        while not stop.wait(_STREAM_INTERVAL):
            requests = fake.requests[reported:]
            reported += len(requests)
            for request in requests:
                if _is_message(request) and request["json"]:
                    arrivals.put((request["json"].get("to"), request["time"]))
