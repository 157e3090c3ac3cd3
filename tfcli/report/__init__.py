"""Reports on studies: ranking, significance, importance, and their rendering.

* :mod:`.ranking`: pure functions that rank :class:`~tfcli.records.TrialRecord` s, filter
  them (``--where``) and pick columns;
* :mod:`.significance`: paired bootstrap of the top trial against the next ones, on the
  validation outputs saved with their checkpoints;
* :mod:`.importance`: fANOVA hyperparameter importance (Optuna) over finished trials;
* :mod:`.build`: reads the tracking store and puts a :class:`~.build.Report` together;
* :mod:`.render` (table, csv, json, markdown) and :mod:`.html` (a self-contained plotly page).
"""
