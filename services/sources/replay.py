"""Replays twarc2 JSONL archives: stream lines, search pages or flattened tweets.

Only files inside the configured replay directory can be read, so a request can
never make the service open an arbitrary path.
"""
import itertools
from pathlib import Path
from typing import Iterator

import orjson

from services.contracts.errors import BadRequest
from services.sources.base import TweetSource, paced
from services.settings import setting


def replay_dir(config: dict) -> Path:
    return Path(setting(config, "REPLAY_DIR"))


def resolve_replay_files(replay_dir: str | Path, names: list[str]) -> list[Path]:
    root = Path(replay_dir).resolve()
    if not names:
        raise BadRequest("files: give at least one file name for the replay source")
    paths = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise BadRequest("files: every entry must be a non-empty file name")
        path = (root / name).resolve()
        if not path.is_relative_to(root) or path == root:
            raise BadRequest(f"files: {name!r} is outside the replay directory")
        if not path.is_file():
            raise BadRequest(f"files: {name!r} does not exist in the replay directory")
        paths.append(path)
    return paths


class ReplaySource(TweetSource):
    name = "replay"
    deterministic = True

    def __init__(self, paths: list[Path], rate: float = 0.0, limit: int | None = None):
        self.paths = paths
        self.rate = rate
        self.limit = limit

    @classmethod
    def from_config(cls, config: dict, files=(), rate=None, limit=None, **_ignored):
        paths = resolve_replay_files(replay_dir(config), list(files))
        return cls(paths, rate=float(rate or 0), limit=limit)

    def _lines(self) -> Iterator[bytes]:
        for path in self.paths:
            with open(path, "rb") as handle:
                for line in handle:
                    if line.strip():
                        yield line.rstrip(b"\r\n")

    def stream(self, track: list[str], start: int = 0) -> Iterator[bytes]:
        lines = itertools.islice(self._lines(), start, self.limit)
        return paced(lines, self.rate)

    def search(self, tag: str, limit: int) -> Iterator[dict]:
        """Pages of the archived tweets that carry #tag (search pages and stream lines alike)."""
        wanted = tag.casefold()
        found = 0
        for line in self._lines():
            if found >= limit:
                return
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            data = doc.get("data", doc) if isinstance(doc, dict) else None
            tweets = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
            keep = [t for t in tweets if any((h.get("tag") or "").casefold() == wanted
                                             for h in (t.get("entities") or {}).get("hashtags") or ())]
            keep = keep[: limit - found]
            if keep:
                found += len(keep)
                yield {"data": keep, "includes": doc.get("includes") or {}, "meta": {"result_count": len(keep)}}
