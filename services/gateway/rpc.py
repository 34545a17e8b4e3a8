"""The gateway's RPC with a deadline: a call gives up after RPC_TIMEOUT seconds (config.yml) and
the request is answered 504.

Nameko 2's RpcProxy waits for its reply forever. In one CI run, right after the services started,
`/statistics` answered nothing for the readiness probe's whole 56 s, and no log said why. Most
likely a reply was lost: a gateway's HTTP server and its reply queue start side by side, so a
request that comes in at that moment can be answered into a queue that does not exist yet. And
`/statistics` shares one call between the requests that arrive together, so that one call held
every later request.
"""
import eventlet
from nameko.rpc import RpcProxy

DEFAULT_RPC_TIMEOUT = 30.0


class RpcTimeout(Exception):
    """A service did not answer in time."""


class TimedMethod:
    """One remote method: called, it waits at most ``timeout`` seconds, publishing included
    (a stuck broker blocks the publish too)."""

    __slots__ = ("method", "timeout", "name")

    def __init__(self, method, timeout: float, name: str):
        self.method, self.timeout, self.name = method, timeout, name

    def __call__(self, *args, **kwargs):
        with eventlet.Timeout(self.timeout, RpcTimeout(f"{self.name} did not answer within {self.timeout:g} s")):
            return self.method.call_async(*args, **kwargs).result()


class TimedServiceProxy:
    def __init__(self, proxy, timeout: float, unbounded: frozenset):
        self._proxy, self._timeout, self._unbounded = proxy, timeout, unbounded

    def __getattr__(self, name: str):
        method = getattr(self._proxy, name)
        if name in self._unbounded:
            return method
        return TimedMethod(method, self._timeout, f"{self._proxy.service_name}.{name}")


class TimedRpcProxy(RpcProxy):
    """``RpcProxy`` whose calls raise ``RpcTimeout`` after RPC_TIMEOUT seconds, except the
    methods named in ``unbounded`` (work that may rightly take longer, such as populate waiting
    out the X API's rate limit)."""

    def __init__(self, target_service: str, unbounded: tuple[str, ...] = (), **options):
        super().__init__(target_service, **options)
        self.unbounded = frozenset(unbounded)

    def get_dependency(self, worker_ctx):
        timeout = float(self.container.config.get("RPC_TIMEOUT") or DEFAULT_RPC_TIMEOUT)
        return TimedServiceProxy(super().get_dependency(worker_ctx), timeout, self.unbounded)
