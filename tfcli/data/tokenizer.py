"""A subword tokenizer (BPE or unigram) trained with Hugging Face ``tokenizers``.

One vocabulary serves source and target. The pipeline:

* normaliser: NFKC, every run of whitespace → one space, strip, optionally lowercase;
* pre-tokeniser: Metaspace (spaces become ``▁`` on the following word), then punctuation
  split off as its own pieces; decoder: Metaspace, so ``decode(encode(x)) == normalize(x)``
  for any text made of characters the tokenizer knows (the training texts' characters and
  printable ASCII; other characters become ``<unk>``, which decoding drops);
* special tokens with fixed ids: ``<pad>``=0, ``<unk>``=1, ``<s>``=2, ``</s>``=3,
  ``<sep>``=4, ``<cls>``=5. Encoding adds none of them; :mod:`tfcli.data.encode` does.

Trained tokenizers are cached by a hash of their inputs (settings and texts) under
``$TFCLI_CACHE/tokenizers`` (default ``~/.cache/tfcli/tokenizers``), so trials that share
data and settings train once. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import string
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from tfcli.data.cache import cache_root
from tfcli.errors import DataError

log = logging.getLogger("tfcli.data")

SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>", "<sep>", "<cls>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID, CLS_ID = range(len(SPECIAL_TOKENS))
KINDS = ("bpe", "unigram")
FILE_NAME = "tokenizer.json"
MIN_VOCAB_SIZE = 32
_FORMAT_VERSION = 1  # bump when the pipeline changes, so old cache entries are not reused


def _build(kind: str, lowercase: bool) -> Tokenizer:
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
    else:
        tok = Tokenizer(models.Unigram())
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(prepend_scheme="always"), pre_tokenizers.Punctuation("isolated")]
    )
    tok.decoder = decoders.Metaspace(prepend_scheme="always")
    return tok


def _alphabet(lowercase: bool) -> list[str]:
    letters = string.ascii_lowercase if lowercase else string.ascii_letters
    return list(letters + string.digits + string.punctuation)


def _settings_hash(texts: Sequence[str], settings: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(f"\n{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()


def _check_train_settings(kind: str, vocab_size: int) -> None:
    if kind not in KINDS:
        raise DataError(f"tokenizer kind must be one of {', '.join(KINDS)}, but got {kind!r}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < MIN_VOCAB_SIZE:
        raise DataError(f"vocab_size must be an integer >= {MIN_VOCAB_SIZE}, but got {vocab_size!r}")


def _train_settings(kind: str, vocab_size: int, lowercase: bool) -> dict:
    """Everything besides the texts that decides the trained tokenizer (hashed into its cache key)."""
    return {
        "format": _FORMAT_VERSION,
        "tokenizers": ".".join(tokenizers.__version__.split(".")[:2]),
        "kind": kind,
        "vocab_size": vocab_size,
        "lowercase": bool(lowercase),
        "specials": list(SPECIAL_TOKENS),
    }


def _trainer(kind: str, vocab_size: int, lowercase: bool) -> trainers.Trainer:
    if kind == "bpe":
        return trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=_alphabet(lowercase),
            show_progress=False,
        )
    return trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        unk_token="<unk>",
        initial_alphabet=_alphabet(lowercase),
        show_progress=False,
    )


def _write_cache(path: Path, key: str, serialized: str) -> None:
    """Write a cache entry atomically (parallel trials may race); a failure only warns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(serialized)
        os.replace(tmp, path)
    except OSError as err:
        log.warning("could not write the tokenizer cache %s: %s", path, err)


class SubwordTokenizer:
    """A trained subword tokenizer with tfcli's special tokens at fixed ids."""

    pad_id = PAD_ID
    unk_id = UNK_ID
    bos_id = BOS_ID
    eos_id = EOS_ID
    sep_id = SEP_ID
    cls_id = CLS_ID

    def __init__(self, tokenizer: Tokenizer, *, cache_key: str | None = None):
        for i, tok in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(tok) != i:
                raise DataError(
                    f"a tfcli tokenizer must have {tok} at id {i}, but got "
                    f"{tokenizer.token_to_id(tok)}"
                )
        self._tok = tokenizer
        self.cache_key = cache_key
        serialized = tokenizer.to_str()
        #: sha256 of the tokenizer's serialised form: equal for equal tokenizers, kept by
        #: save/load and by the cache.
        self.content_hash = hashlib.sha256(serialized.encode()).hexdigest()
        model = json.loads(serialized)["model"]["type"]
        self.kind = {"BPE": "bpe", "Unigram": "unigram"}.get(model, model.lower())

    # -- training, saving, loading ------------------------------------------------------------

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        kind: str = "bpe",
        vocab_size: int = 4000,
        lowercase: bool = False,
        cache_dir: str | os.PathLike | None = None,
        use_cache: bool = True,
    ) -> SubwordTokenizer:
        """Train on ``texts`` (use the training split only), or load the cached result.

        The cache key hashes the texts and every setting, so changing either trains anew.
        ``cache_dir`` defaults to :func:`cache_root`; the file is
        ``<cache>/tokenizers/<key>.json``, written atomically (parallel trials may race).
        """
        _check_train_settings(kind, vocab_size)
        texts = [t for t in texts if t]
        if not texts:
            raise DataError("cannot train a tokenizer without texts, but got no non-empty text")
        key = _settings_hash(texts, _train_settings(kind, vocab_size, lowercase))
        path = cache_root(cache_dir) / "tokenizers" / f"{key}.json"
        if use_cache and path.is_file():
            cached = cls._from_cache(path, key)
            if cached is not None:
                return cached

        tok = _build(kind, lowercase)
        tok.train_from_iterator(texts, trainer=_trainer(kind, vocab_size, lowercase), length=len(texts))
        result = cls(tok, cache_key=key)
        if use_cache:
            _write_cache(path, key, tok.to_str())
        return result

    @classmethod
    def _from_cache(cls, path: Path, key: str) -> SubwordTokenizer | None:
        """The tokenizer cached at ``path``, or None (with a warning) when it cannot be read."""
        try:
            return cls(Tokenizer.from_file(str(path)), cache_key=key)
        except Exception as err:  # a corrupt entry: train again and overwrite it
            log.warning("ignoring unreadable tokenizer cache entry %s: %s", path, err)
            return None

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``tokenizer.json``; ``path`` is a folder, or a file path ending in ``.json``."""
        path = Path(path)
        if path.suffix != ".json":
            path.mkdir(parents=True, exist_ok=True)
            path = path / FILE_NAME
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._tok.save(str(path))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SubwordTokenizer:
        """Read a tokenizer written by :meth:`save` (a folder holding ``tokenizer.json``, or the file)."""
        path = Path(path)
        if path.is_dir():
            path = path / FILE_NAME
        if not path.is_file():
            raise DataError(f"{path}: no such tokenizer file")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as err:
            raise DataError(f"{path}: not a tokenizer file ({err})") from None
        return cls(tok)

    # -- use ------------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    @property
    def backend(self) -> Tokenizer:
        """The underlying ``tokenizers.Tokenizer``."""
        return self._tok

    def normalize(self, text: str) -> str:
        """The text as the tokenizer sees it; what ``decode(encode(text))`` gives back."""
        return self._tok.normalizer.normalize_str(text)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without special tokens."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and each token's ``(start, end)`` character span in ``text``.

        Spans exclude the space a ``▁`` stands for, so ``text[start:end]`` is the token's
        visible text (empty for a lone ``▁``).
        """
        return self._with_offsets(text, self._tok.encode(text, add_special_tokens=False))

    def encode_batch_with_offsets(
        self, texts: Sequence[str]
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        encs = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [self._with_offsets(t, e) for t, e in zip(texts, encs)]

    @staticmethod
    def _with_offsets(text: str, enc) -> tuple[list[int], list[tuple[int, int]]]:
        offsets = []
        for start, end in enc.offsets:
            while start < end and text[start].isspace():
                start += 1
            offsets.append((start, end))
        return enc.ids, offsets

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``: stops at the first ``</s>`` and drops special tokens.

        Accepts a list of ints or anything with ``tolist()`` (a tensor, an array).
        """
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        return self._tok.decode(ids, skip_special_tokens=True)

    def decode_batch(self, batch: Sequence[Sequence[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def id_to_token(self, i: int) -> str | None:
        return self._tok.id_to_token(i)

    def tokens(self, text: str) -> list[str]:
        """The token strings of ``text`` (for inspection)."""
        return self._tok.encode(text, add_special_tokens=False).tokens

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return (
            f"SubwordTokenizer(kind={self.kind!r}, vocab_size={self.vocab_size}, "
            f"hash={self.content_hash[:12]})"
        )


__all__ = [
    "BOS_ID", "CLS_ID", "EOS_ID", "PAD_ID", "SEP_ID", "SPECIAL_TOKENS", "UNK_ID",
    "SubwordTokenizer", "cache_root",
]
