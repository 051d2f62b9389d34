"""Benchmark: the knowledge base with every shipped language loaded.

Measures start-up time and resident memory added by loading it, and the latency of what each
returnee message costs (danger check plus search) over the evaluation questions, the entries'
own questions and off-topic messages of every language. Next to it, in the same run, a baseline:
folding the same texts only, which every search does first.

    python -m bench.knowledge [--rounds 20]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.evaluation import EVALUATION_DIR
from bot.knowledge.normalise import fold
from bot.languages import SHIPPED_LANGUAGES
from bot.paths import KNOWLEDGE_DIR, OFFICE_SHEETS_DIR


def resident_kib() -> int:
    """Current resident set size, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def messages(knowledge: KnowledgeBase) -> list[tuple[str, str]]:
    texts = []
    for language in knowledge.content.languages:
        texts += [
            (language, knowledge.text(language, e.id).question) for e in knowledge.content.entries
        ]
    for path in sorted(EVALUATION_DIR.glob("*.toml")):
        with path.open("rb") as file:
            raw = tomllib.load(file)
        texts += [(path.stem, q["text"]) for q in raw.get("questions", [])]
        texts += [(path.stem, t) for t in raw.get("out_of_scope", {}).get("texts", [])]
    return texts


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(
    samples: list[tuple[str, str]], rounds: int, work: Callable[[str, str], object]
) -> list[float]:
    durations = []
    for _ in range(rounds):
        for language, text in samples:
            started = time.perf_counter()
            work(language, text)
            durations.append((time.perf_counter() - started) * 1000)
    return durations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds

    gc.collect()
    before = resident_kib()
    started = time.perf_counter()
    knowledge = KnowledgeBase.from_directory(KNOWLEDGE_DIR, SHIPPED_LANGUAGES, OFFICE_SHEETS_DIR)
    load_ms = (time.perf_counter() - started) * 1000
    gc.collect()
    added_mib = (resident_kib() - before) / 1024

    samples = messages(knowledge)

    def lookup(language: str, text: str) -> None:
        if not knowledge.signals_danger([language], text):
            knowledge.confident_match(language, text, "returnee")

    baseline = timed(samples, rounds, fold)
    measured = timed(samples, rounds, lookup)
    entries = len(knowledge.content.entries)
    print(f"languages: {len(knowledge.content.languages)}, entries per language: {entries}")
    print(
        f"start-up (load, check, index): {load_ms:.0f} ms; "
        f"resident memory added: {added_mib:.1f} MB"
    )
    print(f"messages looked up: {len(samples)} x {rounds} rounds")
    print("| | p50 | p99 | max |")
    print("| --- | --- | --- | --- |")
    for name, values in (("fold only (baseline)", baseline), ("danger check + search", measured)):
        print(
            f"| {name} | {statistics.median(values):.3f} ms | {percentile(values, 0.99):.3f} ms "
            f"| {max(values):.3f} ms |"
        )
    ratio = statistics.median(measured) / statistics.median(baseline)
    print(f"search costs {ratio:.1f}x folding the text, at the median")


if __name__ == "__main__":
    main()
