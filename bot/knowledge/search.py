"""Finding the entry a message asks about: Okapi BM25 over each language's entries.

An entry's document is its question and phrasings, with the words of its answer counting less.
Whether a match is good enough to answer on its own is decided by two measures: how much of the
message the entry explains (unknown words count against it, so "my mother is sick" does not
match an entry that merely shares "my") and how far it stands ahead of the runner-up.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from bot.knowledge.normalise import terms

K1 = 1.2
B = 0.75
ANSWER_WEIGHT = 0.3
# Tuned on tests/knowledge_eval (seven languages) for at most about 2% wrong automatic answers in
# any of them, well inside the 5% allowed: a wrong answer costs more than a question left to staff.
MIN_COVERAGE = 0.55
MIN_LEAD = 0.25
# Evidence in absolute terms: a few common words ("are you there?") can be fully "explained" by
# an entry without saying anything about it.
MIN_SCORE = 4.0


@dataclass(frozen=True)
class Match:
    entry_id: str
    score: float
    coverage: float  # share of the message's weight that this entry explains
    lead: float  # how far ahead of the next entry, as a share of this score
    confident: bool


@dataclass(frozen=True)
class Document:
    entry_id: str
    asked: str  # question and phrasings
    answer: str


class LanguageIndex:
    def __init__(self, language: str, documents: Iterable[Document]) -> None:
        self.language = language
        self.entry_ids: list[str] = []
        self.frequencies: list[dict[str, float]] = []
        self.lengths: list[float] = []
        document_frequency: Counter[str] = Counter()
        for document in documents:
            weights: dict[str, float] = dict(Counter(terms(document.asked, language)))
            for term in terms(document.answer, language):
                weights[term] = weights.get(term, 0.0) + ANSWER_WEIGHT
            self.entry_ids.append(document.entry_id)
            self.frequencies.append(weights)
            self.lengths.append(sum(weights.values()))
            document_frequency.update(weights.keys())
        count = max(len(self.entry_ids), 1)
        self.average_length = sum(self.lengths) / count if self.lengths else 1.0
        self.idf = {
            term: math.log(1 + (count - seen + 0.5) / (seen + 0.5))
            for term, seen in document_frequency.items()
        }
        # A word no entry uses weighs like the rarest word there is.
        self.unknown_idf = math.log(1 + (count + 0.5) / 0.5)

    def search(
        self, text: str, limit: int = 3, allowed: Collection[str] | None = None
    ) -> list[Match]:
        query = terms(text, self.language)
        if not query:
            return []
        scores = [0.0] * len(self.entry_ids)
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for position, weights in enumerate(self.frequencies):
                tf = weights.get(term)
                if tf:
                    norm = K1 * (1 - B + B * self.lengths[position] / self.average_length)
                    scores[position] += idf * tf * (K1 + 1) / (tf + norm)
        ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
        ranked = [
            position
            for position in ranked
            if scores[position] > 0 and (allowed is None or self.entry_ids[position] in allowed)
        ][: limit + 1]
        total = sum(self.idf.get(term, self.unknown_idf) for term in query)
        matches = []
        for rank, position in enumerate(ranked[:limit]):
            weights = self.frequencies[position]
            explained = sum(self.idf[term] for term in query if term in weights)
            coverage = explained / total
            following = scores[ranked[rank + 1]] if rank + 1 < len(ranked) else 0.0
            lead = (scores[position] - following) / scores[position]
            matches.append(
                Match(
                    entry_id=self.entry_ids[position],
                    score=scores[position],
                    coverage=coverage,
                    lead=lead,
                    confident=rank == 0
                    and scores[position] >= MIN_SCORE
                    and coverage >= MIN_COVERAGE
                    and lead >= MIN_LEAD,
                )
            )
        return matches
