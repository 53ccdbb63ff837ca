"""Checks an MLflow tracking URI before MLflow sees it (an unknown scheme is a usage error)."""

from __future__ import annotations

from leadscore.errors import ConfigError

__all__ = ["check_tracking_uri"]

_SCHEMES = frozenset(
    {"file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "uc"}
)


def check_tracking_uri(uri: str) -> str:
    """``uri`` unchanged when MLflow can use it; a :class:`ConfigError` naming the fix otherwise."""
    if "://" not in uri:
        return uri  # a local folder (MLflow file store)
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in _SCHEMES and not scheme.startswith("databricks"):
        raise ConfigError(
            f"Unsupported MLflow tracking URI scheme {scheme!r} (from --tracking-uri or "
            "MLFLOW_TRACKING_URI): use sqlite:///path/mlflow.db (the default is "
            "sqlite:///mlruns/mlflow.db), http(s)://host:port for an MLflow server, or "
            "postgresql:// / mysql:// for a database."
        )
    return uri
