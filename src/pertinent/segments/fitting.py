"""Fitting RFM and ML definitions on the stored profiles: when saved (in the request or in a background job), on
demand (retrain) and on the retraining schedule. RFM thresholds are value quintiles of the identified buyers; ML
models are saved under ``<data dir>/segment_models``, versioned, their segment ids matched to the previous model.
"""

from __future__ import annotations

import logging

import numpy as np

from pertinent.privacy.audit import SYSTEM, Actor
from pertinent.rules import RuleError
from pertinent.segments.active import ActiveDefinitions, rfm_values
from pertinent.segments.context import SegmentContext
from pertinent.segments.definitions import (
    Definition,
    MlDefinition,
    MlFit,
    MlSegment,
    RfmDefinition,
    RfmFit,
    RuleDefinition,
    SegmentDefinitionAdapter,
)
from pertinent.segments.documents import DefinitionDocuments
from pertinent.segments.errors import SegmentError, UnknownSegment
from pertinent.segments.membership import Membership
from pertinent.segments.ml import SegmentModel
from pertinent.segments.model_store import ModelStore
from pertinent.segments.results import SegmentView

log = logging.getLogger("pertinent.segments")


class Fitter:
    def __init__(
        self,
        ctx: SegmentContext,
        documents: DefinitionDocuments,
        definitions: ActiveDefinitions,
        membership: Membership,
        models: ModelStore,
    ) -> None:
        self.ctx = ctx
        self.documents = documents
        self.definitions = definitions
        self.membership = membership
        self.models = models

    def fit_rfm(self, d: RfmDefinition, now: float | None = None) -> RfmDefinition:
        """``d`` with thresholds fitted on the stored customers (409 with fewer than 5)."""
        now = self.ctx.now(now)
        values = np.array([v for r in self.membership.rows() if (v := rfm_values(r, now)) is not None]).reshape(-1, 3)
        if len(values) < 5:
            raise SegmentError(
                f"RFM needs at least 5 identified buyers among the stored profiles, found {len(values)}",
                [RuleError("kind", "not enough customers to fit RFM thresholds")],
                status=409,
                code="not_enough_data",
            )
        q = [0.2, 0.4, 0.6, 0.8]
        fit = RfmFit(
            recency=np.quantile(values[:, 0], q).tolist(),
            frequency=np.quantile(values[:, 1], q).tolist(),
            monetary=np.quantile(values[:, 2], q).tolist(),
            customers=len(values),
            fitted_at=now,
        )
        return d.model_copy(update={"fitted": fit, "fit_error": None})

    def fit_ml(self, d: MlDefinition, now: float | None = None) -> MlDefinition:
        """Discover segments on the stored profiles and save the model (ids matched to the previous one)."""
        fitted, model = self.discover_ml(d, self.ctx.now(now))
        assert fitted.fitted is not None
        version = self.models.save(d.id, model)
        return fitted.model_copy(update={"fitted": fitted.fitted.model_copy(update={"model_version": version})})

    def discover_ml(self, d: MlDefinition, now: float) -> tuple[MlDefinition, SegmentModel]:
        """(the definition with its fit, model version 0: not saved yet, the fitted model)."""
        from pertinent.profiles.frame import features_frame
        from pertinent.segments.ml import FeatureError, discover

        ctx = self.ctx
        frame = features_frame(self.membership.rows(), ctx.settings.default_consent, ctx.profile_config, now=now)
        if frame.empty:
            raise SegmentError(
                "no stored profiles with personalisation consent to learn segments from",
                [RuleError("kind", "no profiles to train on")],
                status=409,
                code="not_enough_data",
            )
        previous = self.models.latest(d.id)
        try:
            found = discover(frame, d.config, previous=previous)
        except FeatureError as e:
            raise SegmentError(str(e), [RuleError("config.features", str(e))]) from None
        if not found.ok or found.model is None:
            raise SegmentError(
                found.report.message, [RuleError("config", found.report.message)], status=409, code="not_enough_data"
            )
        report = found.report
        fit = MlFit(
            model_version=0,
            k=report.k,
            profiles=report.n_profiles,
            features=list(report.features),
            selection=report.selection,
            stability_ari=report.stability_ari,
            fitted_at=now,
            segments=[
                MlSegment(key=s.id, name=s.name, size=s.size, share=s.share, description=s.description)
                for s in report.segments
            ],
        )
        return d.model_copy(update={"fitted": fit, "fit_error": None}), found.model

    def fit(self, definition: Definition) -> Definition:
        """An RFM or ML definition fitted (a rule definition as it is)."""
        if isinstance(definition, RfmDefinition):
            return self.fit_rfm(definition)
        if isinstance(definition, MlDefinition):
            return self.fit_ml(definition)
        return definition

    def fit_stored(self, definition_id: str, version: int, backfill: str, actor: Actor = SYSTEM) -> None:
        """The background fit of a saved RFM/ML definition: a new version with the fit (then back-filled unless
        ``backfill`` is ``none``), or with ``fit_error`` when the data cannot be fitted; nothing when the definition
        changed meanwhile."""
        try:
            doc = self.documents.get_doc(definition_id)
        except UnknownSegment:  # deleted meanwhile
            return
        if doc.version != version:
            return
        definition = SegmentDefinitionAdapter.validate_python(doc.body)
        try:
            fitted = self.fit(definition)
        except SegmentError as e:
            fitted = definition.model_copy(update={"fit_error": str(e)})
        if self.documents.put_version(fitted, only_over=version, actor=actor) is None:
            return
        self.definitions.invalidate()
        if not isinstance(fitted, RuleDefinition) and fitted.fitted is not None and backfill != "none":
            self.membership.backfill(definition_id)

    def retrain(self, definition_id: str, actor: Actor = SYSTEM) -> SegmentView:
        """Refit an RFM or ML definition on the current profiles (ML ids matched to the previous model), save it
        as a new version and back-fill the new assignment."""
        doc = self.documents.get_doc(definition_id)
        definition = SegmentDefinitionAdapter.validate_python(doc.body)
        if isinstance(definition, RuleDefinition):
            raise SegmentError(
                f"{definition_id} is a rule segment: nothing to retrain",
                [RuleError("kind", "only rfm and ml segments are trained")],
            )
        row = self.documents.put_version(self.fit(definition), actor=actor, action="segment.retrain")
        assert row is not None
        self.membership.backfill(definition_id)
        return self.documents.describe(row, self.documents.sizes())

    def retrain_due(self) -> list[str]:
        """Retrain every RFM/ML definition whose last fit is older than ``retrain_interval_s``."""
        done = []
        interval = self.ctx.config.retrain_interval_s
        for doc in self.documents.all():
            body = doc.body or {}
            fitted = body.get("fitted") or {}
            if (
                body.get("kind") in ("rfm", "ml")
                and body.get("active", True)
                and self.ctx.clock() - float(fitted.get("fitted_at") or 0.0) >= interval
            ):
                try:
                    self.retrain(doc.doc_id, Actor.system("segments.retrain"))
                    done.append(doc.doc_id)
                except SegmentError as e:
                    log.warning("scheduled retraining of %s skipped: %s", doc.doc_id, e)
        return done
