"""Packages: the scanner's stop package and its per-platform uninstall packages.

Each package says what it does to the scanner (``effect``) and which platform it runs on; an action
deploying it to an endpoint of another platform fails there (the command does not exist on it).
Package names other than the seed's ``3P Cryptosense - Host Scanner - Uninstall`` are INFERRED.

>>> PackageCatalog().by_name("3P Cryptosense - Host Scanner - Uninstall").effect
'uninstall'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.errors import NotFound
from simulator.state.fleet import stable_hash

STOP = "3P Cryptosense - Host Scanner - Stop"
UNINSTALL_LINUX = "3P Cryptosense - Host Scanner - Uninstall"
UNINSTALL_WINDOWS = "3P Cryptosense - Host Scanner - Uninstall [Windows]"


@dataclass(frozen=True)
class Package:
    """One package (``package_spec``) as ``GET /api/v2/packages/by-name/{name}`` shows it."""

    id: int
    name: str
    command: str
    effect: str  # stop | uninstall
    platforms: tuple[str, ...] = ("Linux", "Windows")
    command_timeout: int = 180
    expire_seconds: int = 600

    @property
    def hash(self) -> int:
        return stable_hash("package", self.name) & 0xFFFFFFFF

    @property
    def action_expire_seconds(self) -> int:
        """Actions stay active for the package's expiry plus its command timeout (600 + 180 = 780)."""
        return self.expire_seconds + self.command_timeout

    def runs_on(self, platform: str) -> bool:
        return platform in self.platforms

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "display_name": self.name,
            "command": self.command,
            "command_timeout": self.command_timeout,
            "expire_seconds": self.expire_seconds,
            "hash": self.hash,
            "content_set": {"id": 7, "name": "Cryptosense"},
            "parameter_definition": "",
            "files": [],
            "hidden_flag": False,
            "process_group_flag": True,
            "skip_lock_flag": False,
            "verify_expire_seconds": self.expire_seconds,
            "source_id": 0,
            "sensors": [],
            "metadata": [{"name": "platforms", "value": ",".join(self.platforms)}],
        }


PACKAGES: tuple[Package, ...] = (
    Package(
        101,
        STOP,
        "cmd /c sc stop cs-host-scanner || /bin/sh -c 'systemctl stop cs-host-scanner; "
        "pkill -x cs-host-scanner; exit 0'",
        "stop",
    ),
    Package(
        102,
        UNINSTALL_LINUX,
        "/bin/sh -c 'rm -rf /opt/cryptosense'",
        "uninstall",
        platforms=("Linux",),
    ),
    Package(
        103,
        UNINSTALL_WINDOWS,
        'cmd /c rmdir /s /q "C:\\Program Files\\Cryptosense" "C:\\ProgramData\\Cryptosense"',
        "uninstall",
        platforms=("Windows",),
    ),
)


class PackageCatalog:
    """The packages the simulated server has, by name (any case) or id."""

    def __init__(self, packages: tuple[Package, ...] = PACKAGES) -> None:
        self.packages = packages

    def by_name(self, name: str) -> Package:
        wanted = name.strip().lower()
        for package in self.packages:
            if package.name.lower() == wanted:
                return package
        raise NotFound(f"no package named {name.strip()[:80]!r}")

    def by_id(self, package_id: object) -> Package:
        for package in self.packages:
            if str(package_id).strip() == str(package.id):
                return package
        raise NotFound(f"no package with id {str(package_id)[:40]}")

    def uninstall_for(self, platform: str) -> Package:
        return self.by_name(UNINSTALL_WINDOWS if platform == "Windows" else UNINSTALL_LINUX)


__all__ = ["PACKAGES", "STOP", "UNINSTALL_LINUX", "UNINSTALL_WINDOWS", "Package", "PackageCatalog"]
