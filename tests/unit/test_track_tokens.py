"""A tweet's tokens for track matching (the words of its text, hashtags, mentioned usernames and
expanded URLs, case-folded) and why a phrase is refused as a track term."""
from datetime import datetime, timezone

import pytest

from services.tweets.parse import Tweet
from services.tweets.track import MAX_PHRASE_BYTES, phrase_problem, token_list, token_list_of, tokens_of


def tweet(text="", hashtags=(), mentions=(), urls=()) -> Tweet:
    return Tweet(id=1, text=text, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), lang="en", author_id=2,
                 hashtags=tuple(hashtags), mentions=tuple(mentions), urls=tuple(urls), place_id=None)


# -- token_list and tokens_of ---------------------------------------------------------------------

def test_the_token_list_is_the_texts_words_then_hashtags_then_mentions_then_url_words_case_folded():
    t = tweet("Hello, World! #Ignored? no", hashtags=("DevOps",), mentions=("Taylor_Swift",),
              urls=("https://Example.com/Path?q=1",))
    assert token_list(t) == ["hello", "world", "ignored", "no", "devops", "taylor_swift",
                             "https", "example", "com", "path", "q", "1"]


@pytest.mark.parametrize("part, value, tokens", [
    ("text", "Only Text", ["only", "text"]),
    ("hashtags", ("OnlyTag",), ["onlytag"]),
    ("mentions", ("Only_Mention",), ["only_mention"]),
    ("urls", ("http://only.url/x",), ["http", "only", "url", "x"]),
])
def test_each_part_alone_gives_its_own_tokens(part, value, tokens):
    t = tweet(**{part: value})
    assert token_list(t) == tokens
    assert tokens_of(t) == set(tokens)


def test_a_tweet_with_no_text_and_no_entities_has_no_tokens():
    assert token_list(tweet()) == [] and tokens_of(tweet()) == set()


def test_words_are_never_joined_across_parts():
    t = tweet("ab", hashtags=("cd", "ef"), mentions=("gh",), urls=("ij",))
    assert token_list(t) == ["ab", "cd", "ef", "gh", "ij"]
    assert "abcd" not in tokens_of(t) and "cdef" not in tokens_of(t)


def test_duplicates_stay_in_the_list_and_are_one_in_the_set():
    t = tweet("go Go GO #go", hashtags=("Go",), mentions=("go",), urls=("https://go.example/go",))
    assert token_list(t) == ["go", "go", "go", "go", "go", "go", "https", "go", "example", "go"]
    assert tokens_of(t) == {"go", "https", "example"}
    assert type(tokens_of(t)) is set


def test_text_that_is_not_ascii_is_case_folded_and_split_on_its_punctuation():
    t = tweet("Straße—ÇA va! 東京タワー", hashtags=("Ünïcode",), mentions=("Ωmega",))
    assert token_list(t) == ["strasse", "ça", "va", "東京タワー", "ünïcode", "ωmega"]


def test_one_non_ascii_part_case_folds_the_ascii_parts_the_same_way():
    ascii_only = tweet("Hello World", hashtags=("Tag",))
    mixed = tweet("Hello World", hashtags=("Tag",), mentions=("Zoë",))
    assert token_list(mixed) == token_list(ascii_only) + ["zoë"]


def test_token_list_reads_the_tweet_as_token_list_of_reads_its_parts():
    t = tweet("Some text", hashtags=("a",), mentions=("b",), urls=("c.d",))
    assert token_list(t) == token_list_of("Some text", ("a",), ("b",), ("c.d",)) == ["some", "text", "a", "b", "c", "d"]


# -- phrase_problem -------------------------------------------------------------------------------

@pytest.mark.parametrize("phrase", [None, 7, 7.5, b"bytes", ["word"]])
def test_a_phrase_that_is_not_a_string_must_be_one(phrase):
    assert phrase_problem(phrase) == "must be a string"


@pytest.mark.parametrize("phrase", ["", " ", "\t\n ", "\u3000"])
def test_a_blank_phrase_is_refused_as_blank(phrase):
    assert phrase_problem(phrase) == "must not be blank"


def test_a_phrase_of_sixty_bytes_is_accepted_and_of_sixty_one_refused():
    assert MAX_PHRASE_BYTES == 60
    assert phrase_problem("a" * 60) is None
    assert phrase_problem("a" * 61) == "is longer than 60 bytes"
    # bytes of UTF-8, not characters: 30 two-byte letters are 60 bytes, 31 are 62
    assert phrase_problem("é" * 30) is None
    assert phrase_problem("é" * 31) == "is longer than 60 bytes"
    assert phrase_problem("ab " * 20) is None and phrase_problem("ab " * 20 + "c") == "is longer than 60 bytes"


def test_a_long_blank_phrase_is_blank_before_it_is_long():
    assert phrase_problem(" " * 100) == "must not be blank"


def test_a_long_phrase_without_words_is_long_before_it_is_wordless():
    assert phrase_problem("!" * 61) == "is longer than 60 bytes"


@pytest.mark.parametrize("phrase", ["!!!", "#", "@ -- ?", "...."])
def test_a_phrase_of_punctuation_only_has_no_word_to_match(phrase):
    assert phrase_problem(phrase) == "has no word to match"


@pytest.mark.parametrize("phrase", ["a", "_", "#bieber", "@bieber", "justin bieber", "東京", " padded "])
def test_a_phrase_with_a_word_is_accepted(phrase):
    assert phrase_problem(phrase) is None
