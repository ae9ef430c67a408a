"""Configured PACS nodes, kept in one JSON file that the viewer's preferences and `radcam-cli pacs nodes` share.

The file never holds a password or token (viewer.pacs.credentials keeps those in the OS keyring, or for the session).
RADCAM_CONFIG_DIR overrides where it lives (tests, portable installs); else the OS's per-user configuration folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from viewer.errors import PacsError

KINDS = ("dimse", "dicomweb")
RETRIEVES = ("get", "move")
AUTHS = ("none", "basic", "bearer")
CONFIG_NAME = "pacs.json"
DEFAULT_CACHE_LIMIT_MB = 5120


def config_dir() -> Path:
    override = os.environ.get("RADCAM_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("RadCAM", appauthor=False))


def cache_dir() -> Path:
    """Where retrieved instances live: RADCAM_CACHE_DIR, else the OS's per-user cache folder."""
    override = os.environ.get("RADCAM_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("RadCAM", appauthor=False)) / "pacs"


@dataclass(frozen=True)
class Node:
    """One PACS. DIMSE: the PACS's AE title, host and port, ours, and how to retrieve (C-GET needs no inbound port;
    C-MOVE sends to our own Storage SCP on `move_port`). DICOMweb: the base URL (QIDO/WADO/STOW under it), the
    authentication kind and user name (the secret is in the keyring, never here), TLS verification and a CA file."""

    name: str
    kind: Literal["dimse", "dicomweb"]
    ae_title: str = ""
    host: str = ""
    port: int = 104
    our_ae_title: str = "RADCAM"
    retrieve: Literal["get", "move"] = "get"
    move_port: int = 11113
    url: str = ""
    auth: Literal["none", "basic", "bearer"] = "none"
    username: str = ""
    verify_tls: bool = True
    ca_file: str = ""
    timeout: float = 30.0

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise PacsError(f"PACS node {self.name!r}: {problem}")

    def problem(self) -> str | None:
        if not self.name.strip() or any(c in self.name for c in "\\/\n\r\t"):
            return "a node needs a name without slashes or line breaks"
        if self.kind not in KINDS:
            return f"unknown kind {self.kind!r} (dimse or dicomweb)"
        if self.kind == "dimse":
            for label, title in (("AE title", self.ae_title), ("our AE title", self.our_ae_title)):
                if not title.strip() or len(title) > 16 or "\\" in title or not title.isascii():
                    return f"{label} {title!r} must be 1-16 ASCII characters"
            if not self.host:
                return "a DIMSE node needs a host"
            if not (0 < self.port < 65536) or not (0 < self.move_port < 65536):
                return "ports are 1-65535"
            if self.retrieve not in RETRIEVES:
                return f"retrieve is get or move, not {self.retrieve!r}"
        else:
            if not self.url.startswith(("http://", "https://")):
                return f"a DICOMweb node needs an http:// or https:// URL, not {self.url!r}"
            if self.auth not in AUTHS:
                return f"authentication is none, basic or bearer, not {self.auth!r}"
            if self.auth == "basic" and not self.username:
                return "basic authentication needs a user name"
        if self.timeout <= 0:
            return "the timeout must be positive"
        return None

    @property
    def needs_secret(self) -> bool:
        return self.kind == "dicomweb" and self.auth != "none"

    def address(self) -> str:
        """How the node is shown (lists, messages): no secret, no patient."""
        if self.kind == "dimse":
            return f"{self.ae_title}@{self.host}:{self.port}"
        return self.url

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PacsError(f"PACS node {data.get('name')!r}: unknown setting {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise PacsError(f"PACS node {data.get('name')!r}: {exc}") from None


class NodeStore:
    """The nodes and the cache limit in `CONFIG_NAME`; each change is written atomically at once."""

    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder or config_dir()) / CONFIG_NAME
        self.nodes: dict[str, Node] = {}
        self.cache_limit_mb = DEFAULT_CACHE_LIMIT_MB
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            nodes = [Node.from_dict(item) for item in data.get("nodes", [])]
            self.cache_limit_mb = int(data.get("cache_limit_mb", DEFAULT_CACHE_LIMIT_MB))
        except (OSError, ValueError, AttributeError) as exc:
            raise PacsError(f"cannot read the PACS configuration {self.path}: {exc}") from None
        self.nodes = {node.name: node for node in nodes}

    def get(self, name: str) -> Node:
        """The node called `name`; nothing is ever sent to or asked of a node that is not configured."""
        try:
            return self.nodes[name]
        except KeyError:
            known = ", ".join(sorted(self.nodes)) or "none configured"
            raise PacsError(f"no PACS node named {name!r} (configured: {known})") from None

    def put(self, node: Node) -> None:
        self.nodes[node.name] = node
        self.save()

    def remove(self, name: str) -> None:
        self.get(name)
        del self.nodes[name]
        self.save()

    def rename(self, old: str, new: str) -> Node:
        node = replace(self.get(old), name=new)
        del self.nodes[old]
        self.put(node)
        return node

    def save(self) -> None:
        data = {"nodes": [node.as_dict() for node in self.nodes.values()], "cache_limit_mb": self.cache_limit_mb}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".pacs-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2)
            os.replace(temporary, self.path)
        except OSError as exc:
            raise PacsError(f"cannot write the PACS configuration {self.path}: {exc.strerror or exc}") from None
