"""A run metric's name in words, for messages a data scientist reads.

Run metrics are named ``test_<measure>_<model>_<target>`` and
``gain_at_mql_<model>_<target>[_low|_high]`` (:func:`~leadscore.training.api.flatten_metrics`);
``shipped`` is the head that ships for the target. A flat-mode version logs its one target
under ``sql`` (:mod:`leadscore.training.flat_artifact`): pass its column as ``flat_target``.
"""

from __future__ import annotations

__all__ = ["metric_in_words"]

_MEASURES = {
    "roc_auc": "AUC",
    "roc_auc_low": "AUC (lower end of its 95% interval)",
    "roc_auc_high": "AUC (upper end of its 95% interval)",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "log_loss": "log loss",
    "normalized_auc": "normalized AUC",
}
_MODELS = {
    "shipped": "",
    "lightgbm": "LightGBM's ",
    "logistic": "the logistic regression's ",
    "rules": "the rules' ",
}
_TARGETS = {"sql": "SQL", "meeting": "meeting"}
_GAIN = {"": "", "_low": " (lower end of its interval)", "_high": " (upper end of its interval)"}


def metric_in_words(metric: str, *, flat_target: str | None = None) -> str:
    """``test_roc_auc_shipped_sql`` -> ``test AUC of SQL`` (``test AUC of converted`` for a
    flat model of column ``converted``); a name it does not know is returned as it is."""
    for model, owner in _MODELS.items():
        for target, words in _TARGETS.items():
            what = flat_target if flat_target is not None and target == "sql" else words
            tail = f"_{model}_{target}"
            if metric.startswith("test_") and metric.endswith(tail):
                measure = _MEASURES.get(metric[len("test_") : -len(tail)])
                if measure is not None:
                    return f"{owner}test {measure} of {what}"
            for end, note in _GAIN.items():
                if metric == f"gain_at_mql{tail}{end}":
                    return f"{owner}gain at the rules' MQL volume for {what}{note}"
    return metric
