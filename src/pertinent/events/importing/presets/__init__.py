"""Import presets for the public datasets in ``../shared/datasets``, one module per dataset family.

:data:`PRESETS` is the registry :func:`pertinent.events.importing.import_file` looks names up in: add a preset
by writing a :class:`~pertinent.events.importing.converter.Converter` subclass with a ``name`` and listing it
here.

>>> list(PRESETS)
['online-retail', 'movielens', 'taobao']
"""

from __future__ import annotations

from pertinent.events.importing.converter import Converter
from pertinent.events.importing.presets.movielens import MovieLensPreset
from pertinent.events.importing.presets.online_retail import OnlineRetailPreset, retail_product_type
from pertinent.events.importing.presets.taobao import TaobaoPreset

__all__ = ["PRESETS", "MovieLensPreset", "OnlineRetailPreset", "TaobaoPreset", "retail_product_type"]

PRESETS: dict[str, type[Converter]] = {
    preset.name: preset for preset in (OnlineRetailPreset, MovieLensPreset, TaobaoPreset)
}
