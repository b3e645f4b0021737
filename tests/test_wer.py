"""The word error rate used to judge the transcription fixtures."""

from __future__ import annotations

import pytest

from testkit.wer import edit_distance, key_words_heard, normalize, word_error_rate


def test_normalize_ignores_case_punctuation_and_hyphens() -> None:
    assert normalize("Do you have Gluten-free cakes?!") == ["do", "you", "have", "gluten", "free", "cakes"]
    assert normalize("What's on?") == ["what's", "on"]


def test_normalize_turns_number_words_into_digits() -> None:
    assert normalize("three flat whites") == ["3", "flat", "whites"]
    assert normalize("a table for twenty five") == ["a", "table", "for", "25"]
    assert normalize("3 flat whites") == normalize("Three flat whites.")


def test_edit_distance_counts_substitutions_deletions_insertions() -> None:
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1
    assert edit_distance(["a", "b", "c"], ["a", "b", "c", "d"]) == 1
    assert edit_distance(["a", "b"], []) == 2


def test_word_error_rate_sums_over_the_set() -> None:
    pairs = [("do you have oat milk", "do you have out milk"), ("is the soup vegan", "is the soup vegan")]
    assert word_error_rate(pairs) == pytest.approx(1 / 9)
    assert word_error_rate([("one two", "")]) == 1.0
    with pytest.raises(ValueError):
        word_error_rate([("", "anything")])


def test_key_words_are_found_after_normalisation() -> None:
    assert key_words_heard(["table", "window"], "Is there a table for 4x1 though?") == ["table"]
    assert key_words_heard(["gluten", "cakes"], "Any Gluten-free cakes?") == ["gluten", "cakes"]
    assert key_words_heard(["three"], "3 flat whites") == ["three"]
