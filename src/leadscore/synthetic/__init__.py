"""Realistic synthetic CRM history with a true-probability oracle.

``generate_crm`` writes accounts, contacts, events, stage changes and reps' verdicts on the
MQLs (:mod:`leadscore.synthetic.feedback`) driven by a latent process: ICP fit from the profile,
decaying bursts of intent, and a funnel whose daily SQL hazard depends on both and on the
contact's latest hand-raise (a demo request: about half of them become SQL within days). The
latent truth is stored apart (the oracle), so :func:`true_probabilities` can give the best
possible prediction for any cutoff and horizon.
"""

from __future__ import annotations

from leadscore.synthetic.config import GenerationSummary, GeneratorConfig, OutputFormat
from leadscore.synthetic.generate import generate_crm
from leadscore.synthetic.oracle import OracleTables, load_oracle, true_probabilities

__all__ = [
    "GenerationSummary",
    "GeneratorConfig",
    "OracleTables",
    "OutputFormat",
    "generate_crm",
    "load_oracle",
    "true_probabilities",
]
