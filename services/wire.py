"""How messages are encoded on the broker: orjson, registered as a Nameko serializer
in config/config.yml. kombu's JSON encoder was a tenth of the launcher's time."""
import orjson


def dumps(payload) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)


loads = orjson.loads
