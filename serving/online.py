"""Features of posted leads, equal to batch scoring's by construction.

:class:`OnlineFeatures` is the HTTP API's path from a :class:`~leadscore.serving.posted.
ScoreRequest` to a feature frame: the posted rows are checked by the contract's own validation
(:class:`~leadscore.serving.posted.PostedValidator`), joined by the rows of their accounts' other
contacts from the CRM when the server has one (:class:`~leadscore.serving.colleagues.
CrmColleagues`), and run through the feature stage's one query (:class:`~leadscore.serving.
features.PostedFeatures`). Without a CRM, account-level features cannot be computed from a
request alone unless the request says it holds whole accounts: :class:`AccountFeaturesRefused`
says so instead of returning wrong values.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pandas as pd

from leadscore.crm import CrmData
from leadscore.errors import LeadscoreError
from leadscore.features.definition import FeatureDefinition
from leadscore.features.labels import FromStage
from leadscore.serving.colleagues import CrmColleagues, account_features
from leadscore.serving.features import PostedFeatures
from leadscore.serving.posted import PostedValidator, ScoreRequest, posted_tables

__all__ = ["AccountFeaturesRefused", "OnlineFeatures"]


class AccountFeaturesRefused(LeadscoreError):
    """The model uses account-level features and nothing tells the lead's colleagues."""

    def __init__(self, features: list[str]) -> None:
        self.features = features
        super().__init__(
            "This model uses account-level features that count the lead's colleagues in the "
            f"CRM ({', '.join(features)}), and this server has no CRM to read them from: "
            "computed from the posted leads alone they would be wrong. Start the server with "
            "the CRM (`leadscore serve --crm CRM`), or, when the posted leads are every contact "
            'their accounts have (e.g. a new company), send "complete_accounts": true.'
        )


class OnlineFeatures:
    """Validated, CRM-complete features of posted leads (thread-safe; see the module doc).

    ``used`` are the features the model reads (the account-level ones among them decide
    whether a request needs the CRM); ``crm``, when given, stays open and owned by the caller.
    """

    def __init__(
        self,
        definition: FeatureDefinition,
        used: list[str],
        *,
        crm: CrmData | None = None,
        connections: int = 2,
        from_stage: FromStage = "any",
    ) -> None:
        self.account_features = account_features(definition, used)
        self.colleagues = (
            CrmColleagues(crm, lookback_days=definition.lookback_days) if crm is not None else None
        )
        self._validator = PostedValidator(connections=connections, built_by_posted_tables=True)
        # validation runs beside the feature query (its own connection; DuckDB releases the
        # GIL): a request waits for the longer of the two, not their sum
        self._beside = ThreadPoolExecutor(connections, thread_name_prefix="leadscore-validate")
        try:
            self._features = PostedFeatures(
                definition, connections=connections, from_stage=from_stage
            )
        except BaseException:
            self._validator.close()
            self._beside.shutdown()
            raise

    def features(self, request: ScoreRequest, *, as_of: datetime) -> pd.DataFrame:
        """Feature frame of the posted leads eligible at ``as_of`` (naive UTC), in the feature
        query's order. Raises :class:`~leadscore.errors.DataContractError` for rows that break
        the contract and :class:`AccountFeaturesRefused` as said above."""
        if self.account_features and self.colleagues is None and not request.complete_accounts:
            raise AccountFeaturesRefused(self.account_features)
        tables = posted_tables(request)
        checked = self._beside.submit(self._validator.check, tables, as_of=as_of)
        try:
            merged = tables
            if self.colleagues is not None and self.account_features:
                merged = self.colleagues.merge(tables, as_of=as_of)
            frame = self._features.features(merged, as_of=as_of)
        finally:
            checked.result()  # raises the contract's error first: rows that break it score nothing
        if merged is tables or merged["contacts"].num_rows == tables["contacts"].num_rows:
            return frame
        posted = {lead.contact.contact_id for lead in request.leads}
        return frame[frame["contact_id"].isin(posted)].reset_index(drop=True)

    def close(self) -> None:
        """Close the DuckDB connections (not the CRM)."""
        self._beside.shutdown()
        self._validator.close()
        self._features.close()
