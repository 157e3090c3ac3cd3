"""The MLflow pyfunc entry point of an exported tfcli model ("models from code").

``tfcli export --register NAME`` logs this file with ``mlflow.pyfunc.log_model(python_model=
<this file>, artifacts={"export": <export folder>})``. MLflow stores the file's source, not a
pickle, and loads the model by running it: the ``set_model`` call at the bottom hands MLflow
the model object, whose ``load_context`` reads the export folder with
:func:`tfcli.export.load_export` (JSON and safetensors only). So ``mlflow models predict``
and ``mlflow models serve`` run the model in an environment where tfcli is installed
(``--env-manager local``).

Input: a DataFrame with a ``text`` column (translation, summarization, classification) or
``context`` and ``question`` columns (qa); output: one string per row. Params ``beam_size``
and ``batch_size`` (0: the exported settings) change decoding and batching.

tfcli itself never imports this module: it is MLflow's way in (and, with
:mod:`tfcli.tracking`, the only tfcli module that imports MLflow).
"""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from tfcli.export import ARTIFACT_KEY, inputs_from_model_input, load_export


class TfcliModel(PythonModel):
    """Text in, text out."""

    def load_context(self, context) -> None:
        self.model = load_export(context.artifacts[ARTIFACT_KEY])

    # A DataFrame hint: MLflow then validates inputs against the logged signature only.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        params = params or {}
        beam = int(params.get("beam_size") or 0) or None
        batch_size = int(params.get("batch_size") or 0) or None
        inputs = inputs_from_model_input(self.model.task, model_input)
        return self.model.predict(inputs, beam=beam, batch_size=batch_size)


mlflow.models.set_model(TfcliModel())
