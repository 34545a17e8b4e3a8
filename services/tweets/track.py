"""Track-term matching with the semantics of the classic ``track`` parameter.

A phrase is space-separated words; a tweet matches a phrase when every word equals,
case-folded, one of the tweet's tokens (text words split on whitespace and
punctuation, hashtags, mentioned usernames, words of expanded URLs). A tweet
matches the run when it matches any phrase.
"""
import re

from services.tweets.parse import Tweet

MAX_PHRASES = 400
MAX_PHRASE_BYTES = 60

# Words are runs of letters, digits and underscores (so "#bieber", "@bieber",
# "Bieber!" all give "bieber"); URLs are split on their punctuation too.
_WORD = re.compile(r"\w+")
# For ASCII text (most of what a stream carries) casefold is lower() and \w is [A-Za-z0-9_]:
# one translate to lower case and spaces, then a split, gives the regex's words 2.4x faster.
_ASCII_WORD_CHARS = {c for c in range(128) if chr(c).isalnum() or chr(c) == "_"}
_LOWER_OR_SPACE = bytes(ord(chr(c).lower()) if c in _ASCII_WORD_CHARS else 32 for c in range(256))


def words_of(text: str) -> list[str]:
    if text.isascii():
        return text.encode("ascii").translate(_LOWER_OR_SPACE).decode("ascii").split()
    return _WORD.findall(text.casefold())


def token_list_of(text: str, hashtags: tuple[str, ...], mentions: tuple[str, ...], urls: tuple[str, ...]) -> list[str]:
    # one pass over everything: words never span the spaces joining the parts
    return words_of(" ".join((text, *hashtags, *mentions, *urls)))


def token_list(tweet: Tweet) -> list[str]:
    return token_list_of(tweet.text, tweet.hashtags, tweet.mentions, tweet.urls)


def tokens_of(tweet: Tweet) -> set[str]:
    return set(token_list(tweet))


class TrackMatcher:
    """Matches tweets against phrases without rescanning every phrase per tweet.

    Phrases are indexed by their rarest-looking (longest) word: a tweet only tests
    the phrases indexed under one of its own tokens.
    """

    def __init__(self, phrases: list[str]):
        self.phrases = [tuple(words_of(p)) for p in phrases]
        self._by_key: dict[str, list[frozenset[str]]] = {}
        for words in self.phrases:
            if not words:
                continue
            key = max(words, key=len)
            self._by_key.setdefault(key, []).append(frozenset(words))
        self._keys = frozenset(self._by_key)

    def matches(self, tweet: Tweet) -> bool:
        return self.matches_parts(tweet.text, tweet.hashtags, tweet.mentions, tweet.urls)

    def matches_parts(self, text: str, hashtags: tuple[str, ...], mentions: tuple[str, ...],
                      urls: tuple[str, ...]) -> bool:
        """``matches`` for a tweet not made into a Tweet yet (parse_documents' ``wanted``)."""
        words = token_list_of(text, hashtags, mentions, urls)
        # the intersection runs in C; most tweets share no key word with the phrases, and a
        # one-word phrase matches on its key alone, so the tweet's own set is rarely built
        tokens = None
        for key in self._keys.intersection(words):
            for required in self._by_key[key]:
                if len(required) == 1:
                    return True
                if tokens is None:
                    tokens = set(words)
                if required <= tokens:
                    return True
        return False


def phrase_problem(phrase) -> str | None:
    """Why a phrase is not acceptable as a track term, or None."""
    if not isinstance(phrase, str):
        return "must be a string"
    if not phrase.strip():
        return "must not be blank"
    if len(phrase.encode("utf-8")) > MAX_PHRASE_BYTES:
        return f"is longer than {MAX_PHRASE_BYTES} bytes"
    if not words_of(phrase):
        return "has no word to match"
    return None
