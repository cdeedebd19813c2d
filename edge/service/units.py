"""systemd units for the long-running commands, filled in for one device profile and installed.

The templates are ``firmware_config/systemd/*.service`` with the shared [Service] settings in
``common.conf``; ``claim-edge service install`` writes them (and the sysusers.d entry that
creates the service user) under a root: ``/`` on a device, or an image's root folder.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..config import PROFILE_DIR

UNITS = {"serve": "claim-edge-serve.service", "sync": "claim-edge-sync.service",
         "fleet": "claim-edge-fleet.service"}
TEMPLATES = PROFILE_DIR / "systemd"
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")


class ServiceError(Exception):
    pass


@dataclass(frozen=True)
class Installed:
    files: list[Path]
    enabled: list[Path]


def default_executable() -> Path:
    """The ``claim-edge`` command of this installation (the virtual environment's script)."""
    beside = Path(sys.executable).parent / "claim-edge"
    if beside.exists():
        return beside.absolute()
    found = shutil.which("claim-edge")
    if found:
        return Path(found).absolute()
    raise ServiceError("cannot find the claim-edge command beside this Python; give --exec PATH")


def render(profile: str, executable: Path, user: str = "claim-edge",
           units: tuple[str, ...] = tuple(UNITS)) -> dict[str, str]:
    """{file name: text} of the chosen units and the sysusers.d entry."""
    if not USER_RE.match(user):
        raise ServiceError(f"user {user!r} is not a valid system user name")
    for u in units:
        if u not in UNITS:
            raise ServiceError(f"unknown unit {u!r} (known: {', '.join(UNITS)})")
    if not executable.is_absolute():
        raise ServiceError(f"{executable}: the command must be an absolute path")
    if any(c.isspace() for c in str(executable) + profile):
        raise ServiceError("the command path and the profile must not contain spaces")
    common = (TEMPLATES / "common.conf").read_text()
    common = "\n".join(line for line in common.splitlines()
                       if not line.startswith("# The [Service] settings"))
    values = {"@COMMON@": common, "@CLAIM_EDGE@": str(executable), "@PROFILE@": profile,
              "@USER@": user}
    out = {}
    for u in units:
        text = (TEMPLATES / UNITS[u]).read_text()
        for key, value in values.items():   # @COMMON@ first: it holds other markers
            text = text.replace(key, value)
        out[UNITS[u]] = text
    out["claim-edge.conf"] = (TEMPLATES / "claim-edge.sysusers").read_text().replace("@USER@", user)
    return out


def install(profile: str, root: Path = Path("/"), executable: Path | None = None,
            user: str = "claim-edge", units: tuple[str, ...] = tuple(UNITS),
            enable: bool = False) -> Installed:
    """Write the units to ROOT/etc/systemd/system and the user to ROOT/etc/sysusers.d;
    ``enable`` links them into multi-user.target.wants (what ``systemctl enable`` does)."""
    texts = render(profile, executable or default_executable(), user, units)
    unit_dir = root / "etc/systemd/system"
    sysusers = root / "etc/sysusers.d"
    files, enabled = [], []
    for name, text in texts.items():
        folder = sysusers if name == "claim-edge.conf" else unit_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        files.append(path)
    if enable:
        wants = unit_dir / "multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        for u in units:
            link = wants / UNITS[u]
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(Path("/etc/systemd/system") / UNITS[u])
            enabled.append(link)
    return Installed(files, enabled)


__all__ = ["Installed", "ServiceError", "UNITS", "default_executable", "install", "render"]
