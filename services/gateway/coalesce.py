"""Shares one upstream answer between the requests that arrive together.

`/statistics` is the page every dashboard polls; at dozens of concurrent clients an RPC
per request would make the statistics service, not the data, the limit. Requests in
flight at the same moment share one call, and an answer is reused for at most
``fresh_for`` seconds (0.25 s by default): the figures lag the database by no more.
"""
import time

from eventlet.event import Event
from nameko.extensions import DependencyProvider
from services.settings import setting


class CoalescedCall:
    def __init__(self, fresh_for: float, clock=time.monotonic):
        self.fresh_for = fresh_for
        self._clock = clock
        self._value = None
        self._fetched_at = float("-inf")
        self._in_flight: Event | None = None

    def get(self, fetch):
        if self._clock() - self._fetched_at < self.fresh_for:
            return self._value
        if self._in_flight is not None:
            return self._in_flight.wait()  # raises what the shared call raised
        self._in_flight = in_flight = Event()
        try:
            value = fetch()
        except Exception as error:
            in_flight.send_exception(error)
            raise
        finally:
            self._in_flight = None
        self._value, self._fetched_at = value, self._clock()
        in_flight.send(value)
        return value

    def forget(self) -> None:
        """After a launch or a stop the next request must see the new state at once."""
        self._fetched_at = float("-inf")


class CoalescedStatistics(DependencyProvider):
    def setup(self):
        self.call = CoalescedCall(float(setting(self.container.config, "STATISTICS_FRESH_FOR")))

    def get_dependency(self, worker_ctx):
        return self.call
