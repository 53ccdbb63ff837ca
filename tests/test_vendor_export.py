"""The "bring your own CRM" path: an export in a vendor's words fails validation with every
unmapped label listed, and validates once its mapping config is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.contract import EventType, Stage
from leadscore.errors import DataContractError
from leadscore.pipeline import GenerateSpec, ValidateSpec, generate_step, validate_step
from leadscore.synthetic.vendor_export import VENDOR_LABELS, write_vendor_export


@pytest.mark.parametrize("vendor", sorted(VENDOR_LABELS))
def test_every_stage_and_event_has_a_vendor_label(vendor: str) -> None:
    labels = VENDOR_LABELS[vendor]
    assert set(labels["stages"]) == {s.value for s in Stage}
    assert set(labels["events"]) == {e.value for e in EventType}
    assert not set(labels["events"].values()) & {e.value for e in EventType}  # all need mapping


def test_vendor_export_needs_its_mapping_and_validates_with_it(tmp_path: Path) -> None:
    crm = tmp_path / "crm.duckdb"
    generate_step(GenerateSpec(out=crm, contacts=300, seed=4))
    plain = validate_step(ValidateSpec(source=crm))
    for vendor in sorted(VENDOR_LABELS):
        export = write_vendor_export(crm, tmp_path / vendor, vendor=vendor)  # type: ignore[arg-type]
        assert export.config.parent == tmp_path  # beside the folder: it holds only tables
        with pytest.raises(DataContractError) as raised:
            validate_step(ValidateSpec(source=export.folder))
        assert "mapping.event_types" in str(raised.value)
        mapped = validate_step(ValidateSpec(source=export.folder, config=export.config))
        assert mapped.row_counts == plain.row_counts
        assert mapped.funnel.reached == plain.funnel.reached  # same funnel, other words
