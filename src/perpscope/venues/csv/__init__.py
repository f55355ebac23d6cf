"""CSV exports from other tools: built-in formats for known exports, and user-written column mappings.

Both are the same mechanism: a mapping spec (TOML, see ``docs/import-formats.md``) applied by
:class:`MappedFormat`. The built-in specs ship in ``formats/`` beside this module.

- :data:`FORMATS` — every built-in format, for ``perpscope import`` to sniff files with;
- :func:`load_mapping` — a user's mapping file as a format (``perpscope import --mapping my.toml``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from perpscope.venues.base import FileFormat
from perpscope.venues.csv.mapping import MappedFormat, NotImportableError
from perpscope.venues.csv.model import FormatSpec
from perpscope.venues.csv.spec import load_spec, spec_from_dict


def builtin_formats() -> list[MappedFormat]:
    """The bundled formats (``formats/*.toml``): those that also require a file name first, then the
    others, each group sorted by name — a file matching a named export's header *and* name is that
    export, whatever other format shares its header (``usdt_*`` before the generic DefiLlama layout)."""
    folder = resources.files(__name__).joinpath("formats")
    out = [MappedFormat.from_toml(Path(str(f))) for f in folder.iterdir() if f.name.endswith(".toml")]
    return sorted(out, key=lambda f: (not f.spec.files, f.name))


def load_mapping(path: str | Path) -> MappedFormat:
    """A user's mapping TOML as a format; :class:`~perpscope.core.errors.InputError` when invalid."""
    return MappedFormat.from_toml(path)


#: Built-in CSV formats, sniffed by their exact header line (and file name where headers are shared).
FORMATS: list[FileFormat] = list(builtin_formats())

__all__ = [
    "FORMATS",
    "FormatSpec",
    "MappedFormat",
    "NotImportableError",
    "builtin_formats",
    "load_mapping",
    "load_spec",
    "spec_from_dict",
]
