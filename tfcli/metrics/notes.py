"""Where tfcli's metric defaults differ from the libraries', and why: one text each, quoted by
the metrics, ``tfcli score --help``, the study schema and the docs. A module of its own so
the CLI, the report and the model card can show it without loading the metrics (sacrebleu
probes $TMPDIR with a file when imported, and `tfcli predict` writes nothing)."""

#: rouge-score's RougeScorer has use_stemmer=False; tfcli's rouge_use_stemmer is True.
STEMMING_DEFAULT_NOTE = (
    "stemming is on by default, unlike rouge-score (use_stemmer=False): summarization papers report "
    "ROUGE with Porter stemming (ROUGE-1.5.5 -m), and studies have always scored this way"
)

METEOR_NOTE = (
    "METEOR here matches exact words and Porter stems only, without WordNet synonyms "
    "(NLTK's WordNet data is not available offline), so it runs lower than full METEOR "
    "and is not comparable with published METEOR scores."
)
