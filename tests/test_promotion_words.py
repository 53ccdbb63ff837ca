"""The promotion gate's decision in words: the metric named as a data scientist says it (the
flat model's own target, never the internal ``_shipped_sql`` role), its figures said once, on
a real MLflow sqlite registry and through ``leadscore promote``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.training.metric_words import metric_in_words

WINDOW = {"test_first_cutoff": "2025-01-01", "test_last_cutoff": "2025-03-01"}


@pytest.mark.parametrize(
    ("metric", "flat", "words"),
    [
        ("test_roc_auc_shipped_sql", None, "test AUC of SQL"),
        ("test_roc_auc_shipped_sql", "converted", "test AUC of converted"),
        ("test_roc_auc_lightgbm_meeting", None, "LightGBM's test AUC of meeting"),
        ("test_brier_logistic_sql", "won", "the logistic regression's test Brier score of won"),
        ("test_pr_auc_rules_sql", None, "the rules' test PR AUC of SQL"),
        ("test_roc_auc_low_shipped_sql", None, "test AUC (lower end of its 95% interval) of SQL"),
        (
            "gain_at_mql_shipped_meeting_high",
            None,
            "gain at the rules' MQL volume for meeting (upper end of its interval)",
        ),
        ("my_metric", None, "my_metric"),  # one it does not know: as it is
        ("test_roc_auc_shipped_other", None, "test_roc_auc_shipped_other"),
    ],
)
def test_metric_names_in_words(metric: str, flat: str | None, words: str) -> None:
    assert metric_in_words(metric, flat_target=flat) == words


def _register(root: Path, uri: str, auc: float, tags: dict[str, str]) -> str:
    from leadscore.training.tracking import log_training_run

    metrics = {
        "test_roc_auc_lightgbm_sql": auc,
        "test_roc_auc_shipped_sql": auc,
        "test_roc_auc_rules_sql": 0.61,
    }
    _, version = log_training_run(
        tracking_uri=uri, model_name="leadscore", params={}, metrics=metrics,
        tags={**WINDOW, **tags}, heads=root / "heads", report=root / "report.html",
        features=[], targets=["sql"],
    )  # fmt: skip
    return str(version)


def _promote(uri: str, *args: str) -> tuple[int, str]:
    """``leadscore promote``'s exit code and output (lines rich wrapped joined again)."""
    result = CliRunner().invoke(app, ["promote", *args, "--tracking-uri", uri])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        ({"model_kind": "flat", "flat_target": "converted"}, "test AUC of converted"),
        ({}, "test AUC of SQL"),
    ],
)
def test_promote_says_the_metric_in_words_and_its_figures_once(
    tmp_path: Path, tags: dict[str, str], words: str
) -> None:
    (tmp_path / "heads").mkdir()
    (tmp_path / "heads" / "head.txt").write_text("model")
    (tmp_path / "report.html").write_text("<html></html>")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    _register(tmp_path, uri, 0.7637, tags)
    code, said = _promote(uri)
    assert code == 0, said
    assert said.startswith(
        f"Version 1 promoted: no champion yet; {words} 0.7637 beats the rules' 0.6100 by the "
        "margin 0.005."
    )
    _register(tmp_path, uri, 0.7637, tags)
    code, said = _promote(uri)
    assert (code, said) == (
        6,
        f"Version 2 not promoted: {words} 0.7637 does not beat the champion's 0.7637 by the "
        "margin 0.005.",
    )
    code, said = _promote(uri, "--force", "--margin", "0.01")
    assert code == 0, said
    assert said.startswith(
        f"Version 2 promoted: forced, though {words} 0.7637 does not beat the champion's "
        "0.7637 by the margin 0.01."
    )
    assert _promote(uri) == (6, "Version 2 not promoted: it is already the champion.")
    # re-scored on one window (`promote --training-table`, `retrain`): the figures say so
    from leadscore.training.tracking import promote_version

    rescored = promote_version("leadscore", tracking_uri=uri, version="1",
                               recomputed={"1": 0.70, "2": 0.7123})  # fmt: skip
    assert rescored.reason == (
        f"{words} 0.7000 does not beat the champion's 0.7123 by the margin 0.005 (both scored "
        "on one test window)"
    )
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    recorded = client.get_model_version("leadscore", "2").tags
    assert recorded["promoted_by_force"] == "true"
    assert recorded["promotion_reason"].startswith(f"forced, though {words} 0.7637")


def _register_metrics(root: Path, uri: str, metrics: dict[str, float], tags: dict[str, str]) -> str:
    from leadscore.training.tracking import log_training_run

    (root / "heads").mkdir(exist_ok=True)
    (root / "heads" / "head.txt").write_text("model")
    (root / "report.html").write_text("<html></html>")
    _, version = log_training_run(
        tracking_uri=uri, model_name="leadscore", params={}, metrics=metrics, tags=tags,
        heads=root / "heads", report=root / "report.html", features=[], targets=["sql"],
    )  # fmt: skip
    return str(version)


def test_a_forced_promotion_across_test_windows_compares_nothing(tmp_path: Path) -> None:
    """Forced past the window check, the figures of two windows are not a win (nor recorded as
    one): the reason says they are not comparable and the version is tagged as forced."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    metrics = {"test_roc_auc_shipped_sql": 0.70, "test_roc_auc_rules_sql": 0.61}
    _register_metrics(tmp_path, uri, metrics, WINDOW)
    assert _promote(uri)[0] == 0
    later = {"test_first_cutoff": "2025-04-01", "test_last_cutoff": "2025-06-01"}
    _register_metrics(tmp_path, uri, {**metrics, "test_roc_auc_shipped_sql": 0.90}, later)
    code, said = _promote(uri, "--force")
    assert code == 0, said
    assert said.startswith(
        "Version 2 promoted: forced, though it was tested on another window than the champion "
        "(2025-04-01..2025-06-01 vs 2025-01-01..2025-03-01): its test AUC of SQL 0.9000 and the "
        "champion's 0.7000 are not comparable."
    )
    from mlflow import MlflowClient

    tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version("leadscore", "2").tags
    assert tags["promoted_by_force"] == "true"
    assert tags["promotion_reason"].startswith("forced, though it was tested on another window")


@pytest.mark.parametrize(
    ("metric", "said"),
    [
        (
            "test_roc_auc_logistic_sql",
            "Version 1 not promoted: no champion yet; the logistic regression's test AUC of SQL "
            "0.5000 does not beat the rules' 0.6100 by the margin 0.005.",
        ),
        (
            "gain_at_mql_shipped_sql",
            "Version 1 not promoted: no champion yet; gain at the rules' MQL volume for SQL "
            "-0.1000 does not beat the rules' 0.0000 by the margin 0.005.",
        ),
        (
            "test_brier_shipped_sql",
            "Version 1 promoted: no champion yet; test Brier score of SQL 0.0100 beats the "
            "rules' 0.0200 by the margin 0.005 (lower is better).",
        ),
    ],
)
def test_a_first_champion_beats_the_rules_on_any_head_and_measure(
    tmp_path: Path, metric: str, said: str
) -> None:
    """The first champion faces the rules whatever head the metric names (the logistic
    regression's too), a gain is one over the rules already (0: no better than them), and a
    loss says lower is better."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    metrics = {
        "test_roc_auc_shipped_sql": 0.70,
        "test_roc_auc_logistic_sql": 0.50,
        "test_roc_auc_rules_sql": 0.61,
        "gain_at_mql_shipped_sql": -0.10,
        "test_brier_shipped_sql": 0.01,
        "test_brier_rules_sql": 0.02,
    }
    _register_metrics(tmp_path, uri, metrics, WINDOW)
    code, out = _promote(uri, "--metric", metric)
    assert out.startswith(said), out
    assert code == (6 if "not promoted" in said else 0)


def test_a_champion_without_the_metric_is_not_replaced_without_evidence(tmp_path: Path) -> None:
    """A champion that never recorded the gate's metric gives no evidence either way: the
    challenger is not promoted silently; the reason says what to do (force promotes it)."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    _register_metrics(
        tmp_path, uri, {"test_roc_auc_shipped_sql": 0.70, "test_roc_auc_rules_sql": 0.61}, WINDOW
    )
    assert _promote(uri)[0] == 0
    metrics = {"test_roc_auc_shipped_sql": 0.71, "test_brier_shipped_sql": 0.01}
    _register_metrics(tmp_path, uri, metrics, WINDOW)
    code, said = _promote(uri, "--metric", "test_brier_shipped_sql")
    assert code == 6, said
    assert said.startswith(
        "Version 2 not promoted: test Brier score of SQL 0.0100; the champion (version 1) has "
        "no such figure to compare with: pass the training table"
    ), said
    code, said = _promote(uri, "--metric", "test_brier_shipped_sql", "--force")
    assert code == 0 and said.startswith("Version 2 promoted: forced, though"), said
