"""How well search finds the right entry: top-1 accuracy and the rate of wrong automatic answers.

Run on the evaluation files in tests/knowledge_eval (one per language: paraphrased questions with
the entry they ask about, and messages about something else). After editing content, run
`python -m bot.knowledge.evaluation` to see the effect per language.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bot.knowledge.base import KnowledgeBase
from bot.languages import SHIPPED_LANGUAGES
from bot.paths import KNOWLEDGE_DIR, PROJECT_ROOT

EVALUATION_DIR = PROJECT_ROOT / "tests" / "knowledge_eval"


@dataclass
class Result:
    language: str
    questions: int = 0
    top1: int = 0
    answered_right: int = 0
    out_of_scope: int = 0
    false_answers: int = 0  # an automatic answer that was wrong, or given to an off-topic message
    misses: list[tuple[str, str, str | None]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.top1 / self.questions if self.questions else 0.0

    @property
    def false_answer_rate(self) -> float:
        total = self.questions + self.out_of_scope
        return self.false_answers / total if total else 0.0

    @property
    def answer_rate(self) -> float:
        return self.answered_right / self.questions if self.questions else 0.0


def evaluate(knowledge: KnowledgeBase, path: Path) -> Result:
    with path.open("rb") as file:
        raw = tomllib.load(file)
    result = Result(language=path.stem)
    for item in raw.get("questions", []):
        result.questions += 1
        matches = knowledge.search(result.language, item["text"], limit=2)
        top = matches[0] if matches else None
        if top and top.entry_id == item["entry"]:
            result.top1 += 1
            result.answered_right += top.confident
        else:
            result.misses.append((item["text"], item["entry"], top.entry_id if top else None))
            result.false_answers += bool(top and top.confident)
    for text in raw.get("out_of_scope", {}).get("texts", []):
        result.out_of_scope += 1
        matches = knowledge.search(result.language, text, limit=2)
        result.false_answers += bool(matches and matches[0].confident)
    return result


def evaluate_all(knowledge: KnowledgeBase) -> list[Result]:
    return [evaluate(knowledge, path) for path in sorted(EVALUATION_DIR.glob("*.toml"))]


def table(results: list[Result]) -> str:
    lines = [
        "| language | questions | top-1 | answered at once | off-topic | false answers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.language} | {r.questions} | {r.accuracy:.1%} | {r.answer_rate:.1%} "
            f"| {r.out_of_scope} | {r.false_answer_rate:.1%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(evaluate_all(KnowledgeBase.from_directory(KNOWLEDGE_DIR, SHIPPED_LANGUAGES))))
