"""tfcli: hyperparameter tuning studies of a built-in Transformer on NLP tasks."""

__version__ = "0.1.0"
