"""The rules step: today's points, applied to a feature table, as data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RulesResult", "RulesSpec", "rules_init_step", "rules_score_step"]


@dataclass(frozen=True, kw_only=True)
class RulesSpec:
    """A training or feature table, the rules YAML (default: the bundled rules), and where to
    write the points per row (CSV; ``None``: not written)."""

    training_table: Path
    rules: Path | None = None
    out: Path | None = None


@dataclass(frozen=True)
class RulesResult:
    """Points and MQL flag per (contact, cutoff), with the MQL volume the rules produce."""

    scored: pd.DataFrame  # contact_id, cutoff, points, mql
    mql_threshold: float
    out: Path | None

    @property
    def mql_rows(self) -> int:
        return int(self.scored["mql"].sum())

    @property
    def mql_share(self) -> float:
        return float(self.scored["mql"].mean())

    @property
    def mqls_per_cutoff(self) -> float:
        """MQLs per cutoff, on average over the cutoffs."""
        return float(self.scored.groupby("cutoff")["mql"].sum().mean())


def rules_score_step(spec: RulesSpec) -> RulesResult:
    """Apply the rule-based points to every row of the table; write them when asked."""
    import pandas as pd

    from leadscore.features import read_training_table
    from leadscore.training import default_rules, load_rules, mql_flags, score_rules

    frame, metadata = read_training_table(spec.training_table)
    features = [f.name for f in metadata.features]
    ruleset = (
        load_rules(spec.rules, features=features)
        if spec.rules
        else default_rules(features=features)
    )
    points = score_rules(frame, ruleset)
    scored = pd.DataFrame(
        {
            "contact_id": frame["contact_id"],
            "cutoff": frame["cutoff"],
            "points": points,
            "mql": mql_flags(points, ruleset),
        }
    )
    if spec.out is not None:
        from leadscore.atomic import atomic_write_text

        atomic_write_text(spec.out, scored.to_csv(index=False))
    return RulesResult(scored=scored, mql_threshold=ruleset.mql_threshold, out=spec.out)


def rules_init_step(
    out: Path,
    *,
    force: bool = False,
    flat: Path | None = None,
    target: str | None = None,
    na_values: tuple[str, ...] | None = None,
) -> Path:
    """Write a copy of the bundled rules YAML to ``out`` to edit, or with ``flat`` (an export)
    a starter over that export's columns (``target``: the outcome column, never read by the
    rules); an existing file is kept unless ``force``."""
    from leadscore.atomic import atomic_write_text, check_writable
    from leadscore.errors import OutputError
    from leadscore.training.rules import default_rules_text

    if out.exists() and not force:
        raise OutputError(
            f"{out} already exists: edit it, or pass --force to replace it with the "
            + ("starter rules." if flat else "bundled rules.")
        )
    check_writable(out, what="rules file")
    if flat is None:
        text = default_rules_text()
    else:
        from leadscore.flat_csv import DEFAULT_NA_VALUES
        from leadscore.training.flat import read_flat_table
        from leadscore.training.flat_rules_init import starter_rules_text

        columns = [target] if target else []
        frame = read_flat_table(flat, na_values or DEFAULT_NA_VALUES, columns=columns)
        text = starter_rules_text(frame, flat.name, target=target)
    atomic_write_text(out, text)
    return out
