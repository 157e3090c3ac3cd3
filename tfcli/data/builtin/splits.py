"""Drawing the train/valid/test splits of a built-in set from its example generator."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable

from tfcli.data.examples import Splits
from tfcli.errors import DataError


def generate_splits(
    name: str,
    make: Callable[[random.Random], object],
    key: Callable[[object], Hashable],
    sizes: tuple[int, int, int],
    seed: int,
) -> Splits:
    """Draw unique examples: test, then valid, then train, each from its own stream.

    ``make`` returns one example or a list of examples that belong together (kept in order).
    """
    seen: set[Hashable] = set()
    out: dict[str, list] = {}
    for split, n in (("test", sizes[2]), ("valid", sizes[1]), ("train", sizes[0])):
        rng = random.Random(f"tfcli-builtin:{name}:{seed}:{split}")
        got: list = []
        misses = 0
        while len(got) < n:
            made = make(rng)
            for ex in made if isinstance(made, list) else [made]:
                k = key(ex)
                if k in seen:
                    misses += 1
                    if misses > 20 * n + 1000:
                        raise DataError(
                            f"builtin:{name} cannot generate {sum(sizes)} distinct examples; "
                            f"it ran out after {len(seen)}, use smaller sizes"
                        )
                    continue
                if len(got) < n:
                    seen.add(k)
                    got.append(ex)
        out[split] = got
    return Splits(train=out["train"], valid=out["valid"], test=out["test"])
