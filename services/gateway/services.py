"""The services the gateway calls, each declared once for every route class that uses it.

Nameko keeps one dependency per attribute name on the service class: two route classes declaring
``query`` with different options would silently get one of them (populate once escaped the RPC
deadline only because of the order of the gateway's base classes)."""
from services.gateway.rpc import TimedRpcProxy


class CalledServices:
    launcher = TimedRpcProxy("launcher")
    statistics = TimedRpcProxy("statistics")
    # populate fetches and stores for tens of seconds: it keeps no RPC deadline of the gateway's
    query = TimedRpcProxy("query", unbounded=("populate",))
    health = TimedRpcProxy("health", unbounded=("check",))  # ask_health keeps its own deadline
