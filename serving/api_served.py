"""One model version as the CRM API serves it: the scorer and its own feature path.

A request is scored whole by one :class:`ServedVersion` (its feature definition, its heads, its
name in the response and in recorded rows); when the served alias moves
(:mod:`leadscore.serving.follow`) a new one is built beside the old, which closes once its
last request is done. Merged work never crosses versions: each version has its own
micro-batched feature queries (:class:`BatchedFeatures`), and the Python path's queue merges
requests of the same version only (:class:`~leadscore.serving.api_batch.PythonQueue` scopes).
"""

from __future__ import annotations

from dataclasses import dataclass

from leadscore.crm import CrmData
from leadscore.errors import ArtifactError
from leadscore.serving.loading import LoadedScorer
from leadscore.serving.online import OnlineFeatures, PathCounts
from leadscore.serving.online_batch import BatchedFeatures, BatchStats

__all__ = ["ServedVersion", "serve_version"]


@dataclass(eq=False)
class ServedVersion:
    """A loaded version and the feature path built from its own definition."""

    loaded: LoadedScorer
    online: OnlineFeatures
    batched: BatchedFeatures

    @property
    def model_version(self) -> str:
        """``<name>/<version>`` (or the folder) of the model."""
        return self.loaded.model_version

    def close(self) -> None:
        """Close the feature path's DuckDB connections (not the CRM)."""
        self.online.close()


def serve_version(
    loaded: LoadedScorer,
    *,
    crm: CrmData | None,
    connections: int,
    python_leads: int,
    paths: PathCounts | None = None,
    stats: BatchStats | None = None,
) -> ServedVersion:
    """``loaded`` ready to serve CRM leads (:class:`ArtifactError` for a model that cannot:
    a flat-mode model, one without a feature definition). ``paths`` and ``stats``: counters
    shared with the versions served before (the app's)."""
    if loaded.scorer.flat is not None:
        raise ArtifactError(
            f"{loaded.model_version} is a flat-mode model: this server scores CRM leads. "
            "Restart `leadscore serve` to serve it."
        )
    definition = loaded.scorer.require_definition()
    online = OnlineFeatures(
        definition,
        loaded.scorer.features,
        crm=crm,
        connections=connections,
        from_stage=loaded.scorer.spec.from_stage,
        python_leads=python_leads,
    )
    if paths is not None:
        online.paths = paths
    # concurrent requests share feature queries (no wait when idle; see online_batch)
    batched = BatchedFeatures(online, slots=connections)
    if stats is not None:
        batched.stats = stats
    return ServedVersion(loaded, online, batched)
