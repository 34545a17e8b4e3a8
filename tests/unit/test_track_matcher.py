"""The matcher against the classic `track` semantics (DESIGN.md)."""
import random
import re
from datetime import datetime, timezone

import pytest

from services.tweets.parse import Tweet
from services.tweets.track import TrackMatcher, phrase_problem, words_of


def tweet(text="", hashtags=(), mentions=(), urls=()):
    return Tweet(id=1, text=text, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), lang="en",
                 author_id=2, hashtags=tuple(hashtags), mentions=tuple(mentions), urls=tuple(urls), place_id=None)


@pytest.mark.parametrize("text, hashtags, mentions, expected", [
    ("I love Bieber!", (), (), True),
    ("#bieber forever", ("bieber",), (), True),
    ("hi @bieber", (), ("bieber",), True),
    ("BIEBER", (), (), True),
    ("biebers are everywhere", (), (), False),
    ("justinbieber", (), (), False),
    ("no match here", (), (), False),
])
def test_single_word_matches_text_hashtag_mention_and_case(text, hashtags, mentions, expected):
    assert TrackMatcher(["bieber"]).matches(tweet(text, hashtags, mentions)) is expected


def test_every_word_of_a_phrase_must_appear_in_any_order():
    matcher = TrackMatcher(["justin bieber"])
    assert matcher.matches(tweet("Bieber, Justin: new album"))
    assert matcher.matches(tweet("justin says", hashtags=["Bieber"]))
    assert not matcher.matches(tweet("just bieber"))
    assert not matcher.matches(tweet("justin timberlake"))


def test_any_phrase_matches_the_run():
    matcher = TrackMatcher(["taylor swift", "nba"])
    assert matcher.matches(tweet("watching the NBA finals"))
    assert matcher.matches(tweet("Swift, Taylor"))
    assert not matcher.matches(tweet("taylor made"))


def test_words_of_expanded_urls_are_tokens():
    matcher = TrackMatcher(["kubernetes"])
    assert matcher.matches(tweet("read this https://t.co/x", urls=["https://example.com/kubernetes/intro"]))
    assert not matcher.matches(tweet("read this https://t.co/x", urls=["https://example.com/k8s/intro"]))


def test_punctuation_splits_words():
    assert TrackMatcher(["dogs"]).matches(tweet("I believed both were dogs.  It does"))
    assert TrackMatcher(["dogs"]).matches(tweet("(dogs)"))


def test_many_phrases_sharing_words():
    phrases = [f"word{i} common" for i in range(400)]
    matcher = TrackMatcher(phrases)
    assert matcher.matches(tweet("common word399"))
    assert not matcher.matches(tweet("common word400"))


@pytest.mark.parametrize("phrase, problem", [
    ("ok", None), ("a" * 60, None), ("a" * 61, "longer"), ("é" * 31, "longer"), ("   ", "blank"),
    ("!!!", "no word"), (7, "string"),
])
def test_phrase_problems(phrase, problem):
    found = phrase_problem(phrase)
    assert (found is None) if problem is None else (problem in found)


def test_ascii_text_splits_into_the_same_words_as_the_regex():
    def regex_words(text):   # the reference reading
        return re.findall(r"\w+", text.casefold())
    rng = random.Random(5)
    texts = ["Bieber!", "#Bieber @bieber_fan", "RT @X: 2024's BEST\tof\nall-time... https://t.co/AbC1?q=x_y",
             "", "   ", "___", "a" * 300, "".join(chr(c) for c in range(128))]
    texts += ["".join(chr(rng.randrange(128)) for _ in range(rng.randrange(60))) for _ in range(2000)]
    for text in texts:
        assert words_of(text) == regex_words(text), text
    assert words_of("Straße ÉCOLE") == ["strasse", "école"]   # not ASCII: the regex reads it
