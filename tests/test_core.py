"""The Assistant's own surface: per-question options and the empty-question checks."""

from __future__ import annotations

import pytest

from assistant.errors import ConfigError, QuestionError


def test_top_k_can_change_per_question(fake_bot):
    assert len(fake_bot.ask("Who opened the Crumb bakery?", top_k=1).passages) == 1
    assert len(fake_bot.ask("Who opened the Crumb bakery?", top_k=3).passages) == 3
    assert len(fake_bot.chat().ask("Who opened the Crumb bakery?", top_k=2).passages) == 2


def test_a_top_k_out_of_range_is_a_clear_error(fake_bot):
    with pytest.raises(ConfigError, match="top_k must be between 1 and 100, got 0"):
        fake_bot.ask("Who opened the Crumb bakery?", top_k=0)


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_questions_are_refused_with_a_message(fake_bot, question):
    with pytest.raises(QuestionError, match="the question is empty"):
        fake_bot.ask(question)


def test_a_huge_question_is_refused_with_a_message(fake_bot):
    with pytest.raises(QuestionError, match="keep it under 2,000"):
        fake_bot.ask("why " * 25_000)
