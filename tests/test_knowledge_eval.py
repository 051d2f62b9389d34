"""Retrieval quality on paraphrased questions and off-topic messages, per language.

Fails below 85% top-1 accuracy or above 5% false automatic answers in any language.
"""

from __future__ import annotations

import pytest

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.evaluation import EVALUATION_DIR, evaluate, table
from bot.languages import SHIPPED_LANGUAGES
from bot.paths import KNOWLEDGE_DIR

EVALUATED = sorted(path.stem for path in EVALUATION_DIR.glob("*.toml"))


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase.from_directory(KNOWLEDGE_DIR, SHIPPED_LANGUAGES)


def test_at_least_six_languages_are_evaluated():
    assert len(EVALUATED) >= 6
    assert set(EVALUATED) <= set(SHIPPED_LANGUAGES)


@pytest.mark.parametrize("language", EVALUATED)
def test_retrieval_quality(knowledge, language, capsys):
    result = evaluate(knowledge, EVALUATION_DIR / f"{language}.toml")
    with capsys.disabled():
        print(f"\n{table([result])}")
    assert result.questions >= 60
    assert result.out_of_scope >= 20
    misses = "\n".join(f"{text!r}: expected {want}, got {got}" for text, want, got in result.misses)
    assert result.accuracy >= 0.85, f"top-1 {result.accuracy:.1%}\n{misses}"
    assert result.false_answer_rate <= 0.05, f"false answers {result.false_answer_rate:.1%}"
