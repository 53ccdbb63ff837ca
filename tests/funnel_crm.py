"""The real-funnel CRM of the tests (now in :mod:`leadscore.synthetic.real_funnel`, which the
benchmarks share)."""

from __future__ import annotations

from leadscore.synthetic.real_funnel import PAGES, funnel_crm_folder, landing_page_yaml

__all__ = ["PAGES", "funnel_crm_folder", "landing_page_yaml"]
