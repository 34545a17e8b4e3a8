"""The gateway's RPC: every call's reply queue exists before the call is published, and a call
gives up after RPC_TIMEOUT seconds (config.yml) and the request is answered 504.

A Nameko container starts its extensions side by side, so the gateway's HTTP server can take a
request before the RPC reply consumer has declared its queue; that request's reply was then routed
nowhere and lost, and Nameko 2's RpcProxy waits for a reply forever. In one CI run `/statistics`
answered nothing for the readiness probe's whole 56 s: `/statistics` shares one call between the
requests that arrive together, so that one lost reply held every later request. The reply queue
is now declared before a request can use it, and the deadline bounds whatever else goes wrong.
"""
import eventlet
from eventlet.event import Event
from nameko.rpc import ReplyListener, RpcProxy
from services.settings import setting



class RpcTimeout(Exception):
    """A service did not answer in time."""


class TimedMethod:
    """One remote method, published only once its reply queue exists. Called, it waits at most
    ``timeout`` seconds (None: no limit), the wait for the queue and the publishing included
    (a stuck broker blocks the publish too)."""

    __slots__ = ("method", "timeout", "name", "reply_queue_declared")

    def __init__(self, method, timeout: float | None, name: str, reply_queue_declared: Event | None = None):
        self.method, self.timeout, self.name = method, timeout, name
        self.reply_queue_declared = reply_queue_declared

    def call_async(self, *args, **kwargs):
        if self.reply_queue_declared is not None:
            self.reply_queue_declared.wait()
        return self.method.call_async(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        if self.timeout is None:
            return self.call_async(*args, **kwargs).result()
        with eventlet.Timeout(self.timeout, RpcTimeout(f"{self.name} did not answer within {self.timeout:g} s")):
            return self.call_async(*args, **kwargs).result()


class TimedServiceProxy:
    def __init__(self, proxy, timeout: float, unbounded: frozenset, reply_queue_declared: Event | None = None):
        self._proxy, self._timeout, self._unbounded = proxy, timeout, unbounded
        self._reply_queue_declared = reply_queue_declared

    def __getattr__(self, name: str):
        timeout = None if name in self._unbounded else self._timeout
        return TimedMethod(getattr(self._proxy, name), timeout, f"{self._proxy.service_name}.{name}",
                           self._reply_queue_declared)


class DeclaredReplyListener(ReplyListener):
    """Nameko's reply listener (one per container, shared by every proxy that uses it), which also
    declares its queue at start: its consumer does too, but maybe only after HTTP has started.
    ``declared`` is set once the queue exists."""

    def setup(self):
        super().setup()
        self.declared = Event()

    def start(self):
        super().start()
        # like the consumer, wait for a broker that is away for as long as it takes
        with self.queue_consumer.connection as connection:
            connection.ensure_connection(max_retries=None)
            self.queue(connection.default_channel).declare()
        self.declared.send()


class TimedRpcProxy(RpcProxy):
    """``RpcProxy`` whose calls raise ``RpcTimeout`` after RPC_TIMEOUT seconds, except the
    methods named in ``unbounded`` (work that may rightly take longer, such as populate waiting
    out the X API's rate limit, or a caller that keeps its own deadline). No call is published
    before its reply queue exists."""

    rpc_reply_listener = DeclaredReplyListener()

    def __init__(self, target_service: str, unbounded: tuple[str, ...] = (), **options):
        super().__init__(target_service, **options)
        self.unbounded = frozenset(unbounded)

    def get_dependency(self, worker_ctx):
        timeout = float(setting(self.container.config, "RPC_TIMEOUT"))
        return TimedServiceProxy(super().get_dependency(worker_ctx), timeout, self.unbounded,
                                 self.rpc_reply_listener.declared)
