"""Per-trial data preparation, before and after the encoded-data cache, on a 30k-line corpus.

Two studies on file data (28k train, 1k valid, 1k test lines; TSV): en→xx translation pairs
and 8-class classification. The text is shaped like real text: words drawn from a Zipf law
over a 20k-word vocabulary, sentence lengths log-normal (median about 11 words, a long tail to
a few hundred), capitalised, with commas, digits and a full stop. Each round times, for each
task, one after the other (interleaved, so drift hits all alike):

- ``before``: what every trial paid before the cache (``encode_splits``: read and check the
  files, hash the training texts to find the cached tokenizer, encode every split; the
  tokenizer cache is warm, as it was for every trial but a study's first);
- ``after, cold``: a study's first trial (``prepare`` with the encoded cache emptied: the
  same work plus writing the entry);
- ``after, new process``: a later trial in a fresh process (``prepare`` with the in-memory
  entries dropped: the entry read from disk);
- ``after, reused process``: a later trial in a reused trial process (``prepare`` again).

Run: python benchmarks/data_prep.py [--rounds 5] [--lines 30000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

CASES = ("before", "after, cold", "after, new process", "after, reused process")
LABELS = ("audio", "database", "games", "graphics", "network", "python", "science", "text")
CONSONANTS, VOWELS = "bcdfghklmnprstvwz", "aeiou"


def _words(rng: random.Random, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(syllables)))
    return sorted(words)


class Text:
    """Sentences with Zipf-distributed words and log-normal lengths."""

    def __init__(self, rng: random.Random, vocabulary: int = 20000):
        self.rng = rng
        self.words = _words(rng, vocabulary)
        self.weights = [1.0 / (rank + 1) for rank in range(vocabulary)]

    def length(self) -> int:
        return max(1, min(400, round(self.rng.lognormvariate(2.4, 0.7))))

    def sentence(self, n: int, topic: list[str] | None = None) -> str:
        words = self.rng.choices(self.words, self.weights, k=n)
        if topic:
            words[self.rng.randrange(n)] = self.rng.choice(topic)
        for i in range(n):
            r = self.rng.random()
            if r < 0.03:
                words[i] = str(self.rng.randrange(2000))
            elif r < 0.09 and i < n - 1:
                words[i] += ","
        return " ".join(words).capitalize() + "."


def write_corpus(folder: Path, lines: int, seed: int = 0) -> dict[str, Path]:
    """translation.{train,valid,test}.tsv and classification.*.tsv, dated a minute back."""
    rng = random.Random(seed)
    source, target = Text(rng), Text(rng)
    topics = {label: rng.sample(source.words[200:], 40) for label in LABELS}
    sizes = {"train": lines - 2 * (lines // 30), "valid": lines // 30, "test": lines // 30}
    studies = {}
    for task in ("translation", "classification"):
        for split, n in sizes.items():
            path = folder / f"{task}.{split}.tsv"
            with path.open("w", encoding="utf-8") as f:
                for _ in range(n):
                    k = source.length()
                    if task == "translation":
                        f.write(f"{source.sentence(k)}\t{target.sentence(max(1, round(k * rng.uniform(0.8, 1.3))))}\n")
                    else:
                        label = rng.choice(LABELS)
                        f.write(f"{source.sentence(k, topics[label])}\t{label}\n")
            past = time.time() - 60  # files written before the study starts
            os.utime(path, (past, past))
        metric = "bleu" if task == "translation" else "accuracy"
        study = folder / f"{task}.yaml"
        study.write_text(
            f"name: prep-{task}\n"
            f"task: {{type: {task}, data: {{train: {task}.train.tsv, valid: {task}.valid.tsv, test: {task}.test.tsv}}}}\n"
            "data: {vocab_size: 8000, max_source_length: 128, max_target_length: 128}\n"
            f"objective: {{metric: {metric}}}\n",
            encoding="utf-8",
        )
        studies[task] = study
    return studies


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def round_times(spec, cache: Path) -> dict[str, float]:
    from tfcli.data import encoded_cache
    from tfcli.train.prepare import encode_splits, prepare

    times = {"before": _timed(lambda: encode_splits(spec))}
    shutil.rmtree(cache / "encoded", ignore_errors=True)
    encoded_cache.forget()
    times["after, cold"] = _timed(lambda: prepare(spec))
    encoded_cache.forget()
    times["after, new process"] = _timed(lambda: prepare(spec))
    times["after, reused process"] = _timed(lambda: prepare(spec))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=30000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tfcli-data-prep-"))
    os.environ["TFCLI_CACHE"] = str(work / "cache")
    warnings.simplefilter("ignore")
    from tfcli.spec.load import load_spec
    from tfcli.train.prepare import encode_splits

    try:
        specs = {task: load_spec(path) for task, path in write_corpus(work, args.lines).items()}
        for spec in specs.values():
            encode_splits(spec)  # the tokenizer cache warm, as before the encoded cache
        results = {task: {case: [] for case in CASES} for task in specs}
        for _ in range(args.rounds):
            for task, spec in specs.items():
                for case, seconds in round_times(spec, work / "cache").items():
                    results[task][case].append(seconds)
        print(f"{args.lines} lines per study, {args.rounds} interleaved rounds; median (min-max) seconds per trial, speed-up over before")
        for task, cases in results.items():
            before = statistics.median(cases["before"])
            for case, values in cases.items():
                median = statistics.median(values)
                speedup = f"{before / median:7.1f}x" if median * 1000 > before else "  >1000x"
                print(f"{task:15s} {case:22s} {median:8.4f} ({min(values):.4f}-{max(values):.4f}) {speedup}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
