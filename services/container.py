"""The container every service runs in (config.yml: SERVICE_CONTAINER_CLS): Nameko's, stopped once,
and only after it has started; and an expected error logged in one line.

`nameko run` stops its services from a signal: SIGTERM spawns a stop, Ctrl-C (SIGINT) stops from the
main loop. Each signal starts a stop of its own, and Nameko's container does not stop twice in a
row or stop a start that is still running:
- `make run`'s Ctrl-C reaches every service twice, the terminal's SIGINT and the supervisor's SIGTERM
  (as would a second SIGTERM): both stops stopped each extension, and the launcher's timer sent its
  stop event twice (AssertionError: Trying to re-send() an already-triggered event).
- a SIGTERM during start-up stopped extensions whose setup had not finished (the timer's thread did
  not exist yet: AttributeError), and the process hung until it was killed.
"""
import logging

from eventlet.event import Event
from nameko.containers import ServiceContainer as NamekoContainer

EXPECTED_PREFIX = "(expected) error handling worker"


class ExpectedErrorsInOneLine(logging.Filter):
    """Nameko logs an exception an entrypoint declares in ``expected_exceptions`` (a 404, a 409:
    an answer to its caller) at WARNING with its traceback; the line says enough without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(EXPECTED_PREFIX):
            record.exc_info = record.exc_text = None
        return True


EXPECTED_IN_ONE_LINE = ExpectedErrorsInOneLine()


class ServiceContainer(NamekoContainer):

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._start_began = False
        self._start_ended = Event()
        self._stop_began = False
        # addFilter keeps a filter once, however many containers the process runs
        logging.getLogger("nameko.containers").addFilter(EXPECTED_IN_ONE_LINE)

    def start(self):
        if self._stop_began:  # the stop signal came first: nothing to start, the container has died
            return
        self._start_began = True
        try:
            super().start()
        finally:
            self._start_ended.send()

    def stop(self):
        if self._stop_began:
            self._wait_died()  # another signal's stop: let the first one finish it
            return
        self._stop_began = True
        if not self._start_began:
            if not self._died.ready():
                self._died.send(None)
            return
        self._start_ended.wait()  # every extension set up and started before any is stopped
        super().stop()

    def _wait_died(self):
        try:
            self._died.wait()
        except Exception:  # noqa: BLE001 - a container that died of an error has still stopped
            pass
