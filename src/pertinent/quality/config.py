"""Data-quality settings: identifier normalisation, normalisation at ingestion, deduplication, outliers, imputation.
Plain pydantic (``Settings.quality``): ``PERTINENT_QUALITY__PHONE_REGION=FR`` or ``[quality]`` in the TOML file.

>>> c = QualityConfig(); c.phone_region, c.country_fields[0], c.auto_merge_threshold
('US', 'context.location.country', 101.0)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QualityConfig(BaseModel):
    """``normalize``: values are normalised at ingestion (countries to ISO 3166 alpha-2, dates to ISO 8601,
    currencies to ISO 4217, categorical text trimmed and lower-cased) in the fields listed, each a dotted path into
    the message (``context.location.country``, ``properties.currency``, ``traits.country``).
    ``scan_interval_s``: the server rescans outliers, imputes traits, lists duplicates and purges failed events
    older than ``failed_events_keep_days`` on this schedule (one process at a time); 0 = only on demand.
    ``phone_region``: the region assumed for phone numbers written without a ``+<country code>`` (E.164).
    ``match_threshold``: the fuzzy score (0-100) from which two profiles are duplicate candidates;
    ``auto_merge_threshold``: the score from which a candidate is merged without review (above 100 = never).
    ``merge_equal_identifiers``: two known users' profiles (``u_``) with the same normalised email or phone are
    merged without review (anonymous profiles never are: an unproven browser could claim anyone's address).
    ``match_traits``: traits kept in clear that the matcher compares. ``max_events_per_day``,
    ``max_events_per_session``: hard caps no person reaches (a profile beyond them is flagged as a bot);
    ``outlier_contamination``: the share of profiles IsolationForest may flag. ``impute_traits``: demographic
    traits inferred (KNN over behaviour) when a profile does not state them; ``impute_neighbors``: k.
    """

    model_config = ConfigDict(extra="forbid")

    normalize: bool = True
    country_fields: list[str] = Field(
        default_factory=lambda: ["context.location.country", "traits.country", "traits.address.country"]
    )
    date_fields: list[str] = Field(default_factory=lambda: ["traits.birthday", "traits.createdAt"])
    currency_fields: list[str] = Field(default_factory=lambda: ["properties.currency"])
    categorical_fields: list[str] = Field(default_factory=list)
    phone_region: str = Field(default="US", min_length=2, max_length=2)
    match_threshold: float = Field(default=90.0, ge=0, le=100)
    auto_merge_threshold: float = Field(default=101.0, ge=0)
    merge_equal_identifiers: bool = False
    match_traits: list[str] = Field(
        default_factory=lambda: ["name", "firstName", "lastName", "email", "phone", "address", "postalCode"]
    )
    max_events_per_day: float = Field(default=2000.0, gt=0)
    max_events_per_session: float = Field(default=500.0, gt=0)
    outlier_contamination: float = Field(default=0.01, gt=0, le=0.5)
    impute_traits: list[str] = Field(default_factory=lambda: ["gender", "age_group"])
    impute_neighbors: int = Field(default=15, ge=1, le=200)
    failed_events_keep_days: float = Field(default=30.0, gt=0)
    scan_interval_s: float = Field(default=0.0, ge=0)
