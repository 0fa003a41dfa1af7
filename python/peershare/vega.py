"""Vega-Lite specifications as objects that render themselves in Jupyter.

A :class:`VegaLite` holds a complete specification with its data inlined.
JupyterLab, Jupyter Notebook 7 and VS Code render the MIME type
``application/vnd.vegalite.v5+json`` with their built-in Vega renderer, so
a plot shows offline with nothing else installed; :meth:`VegaLite.to_altair`
gives an Altair chart to restyle, and :meth:`VegaLite.save` a file the Vega
editor or ``vl2png`` open.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Optional, Union

#: The MIME type Jupyter's Vega-Lite renderer reads.
MIME_TYPE = "application/vnd.vegalite.v5+json"


class VegaLite:
    """One Vega-Lite (v5) specification, data included."""

    def __init__(self, spec: dict[str, Any]):
        """Wraps a specification (a dict, as ``json.load`` gives it)."""
        views = ("mark", "layer", "facet", "repeat", "concat", "hconcat", "vconcat")
        if not isinstance(spec, dict) or not any(key in spec for key in views):
            raise ValueError(f"a Vega-Lite specification is a dict with one of {', '.join(views)}")
        self.spec = spec

    @property
    def title(self) -> Optional[str]:
        """The plot's title, if it has one."""
        title = self.spec.get("title")
        return title.get("text") if isinstance(title, dict) else title

    @property
    def data(self) -> list[dict[str, Any]]:
        """The rows the plot draws (its inline data)."""
        return list(self.spec.get("data", {}).get("values", []))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """What Jupyter displays: the specification, and a line of text for
        front ends without a Vega renderer."""
        return {MIME_TYPE: self.spec, "text/plain": repr(self)}

    def to_json(self, indent: Optional[int] = None) -> str:
        """The specification as JSON text."""
        return json.dumps(self.spec, indent=indent)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the specification to ``path`` (``.vl.json`` by custom)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json(indent=1))

    def to_altair(self) -> Any:
        """An Altair chart of the same specification, to restyle (needs
        ``pip install altair``)."""
        try:
            import altair
        except ImportError as e:
            raise ImportError("to_altair() needs Altair: pip install altair") from e
        return altair.Chart.from_dict(copy.deepcopy(self.spec))

    def __repr__(self) -> str:
        mark = self.spec.get("mark", self.spec.get("spec", {}).get("mark", "composite"))
        mark = mark.get("type") if isinstance(mark, dict) else mark
        return f"<VegaLite {mark} plot {self.title!r}: {len(self.data)} rows>"
