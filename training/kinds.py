"""Model kinds in one registry: CRM-mode and flat-mode versions are not compared by the gate.

A flat model is tagged ``model_kind=flat`` (versions without the tag are CRM-mode models). Their
test metrics come from different data, so promoting one over the other on an AUC would compare
two unrelated numbers: the gate refuses it unless forced.
"""

from __future__ import annotations

from leadscore.errors import ConfigError
from leadscore.training.tracking import CHALLENGER, CHAMPION, list_versions

__all__ = ["MODEL_KIND_TAG", "kind_of", "refuse_mixed_kinds"]

MODEL_KIND_TAG = "model_kind"


def kind_of(tags: dict[str, str]) -> str:
    """``flat`` or ``crm``, from a run's tags."""
    return tags.get(MODEL_KIND_TAG, "crm")


def refuse_mixed_kinds(
    model_name: str, *, tracking_uri: str | None, version: str | None, force: bool
) -> None:
    """:class:`ConfigError` when the version to promote and the champion are of two kinds."""
    if force:
        return
    versions = list_versions(model_name, tracking_uri=tracking_uri)
    champion = next((v for v in versions if CHAMPION in v.aliases), None)
    challenger = next(
        (v for v in versions if (v.version == version if version else CHALLENGER in v.aliases)),
        None,
    )
    if champion is None or challenger is None or champion.version == challenger.version:
        return
    kinds = kind_of(challenger.tags), kind_of(champion.tags)
    if kinds[0] != kinds[1]:
        raise ConfigError(
            f"Version {challenger.version} is a {kinds[0]}-mode model and champion "
            f"{champion.version} a {kinds[1]}-mode one: their test metrics come from different "
            "data and cannot be compared. Register flat models under their own name "
            "(`train --table ... --model-name NAME`), or pass --force."
        )
