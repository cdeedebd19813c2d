"""Labels -> usage scenarios (the storage zones a photo is filed in)."""

from __future__ import annotations

from .config import RoutingConfig


def route(cfg: RoutingConfig, category: str | None, verified: bool, damage: str | None,
          document_type: str | None = None) -> list[tuple[str, str]]:
    """(scenario, reason) pairs, without duplicates, in a stable order."""
    if category is None or not verified:
        return [("review", "label not verified" if category else "not classified")]
    out: dict[str, str] = {}
    for s in cfg.category.get(category, ["review"]):
        out.setdefault(s, f"category:{category}")
    if category in ("vehicle", "damage") and damage and damage != "none":
        for s in cfg.damaged:
            out.setdefault(s, f"damage:{damage}")
    if category == "document" and document_type:
        for s in cfg.document.get(document_type, []):
            out.setdefault(s, f"document:{document_type}")
    return list(out.items())
