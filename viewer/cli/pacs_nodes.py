"""`radcam-cli pacs nodes [list|add|remove]` and `pacs cache`: the configuration and the cache, no network."""

from __future__ import annotations

import argparse
import json
import sys

from viewer.errors import UsageError
from viewer.export.names import printable

MB = 1024 * 1024
DIMSE_OPTIONS = ("ae_title", "host", "port", "our_ae_title", "retrieve", "move_port")
WEB_OPTIONS = ("auth", "username", "ca_file")


def run_nodes(args: argparse.Namespace) -> int:
    from viewer.pacs.nodes import NodeStore

    store = NodeStore()
    action = args.nodes_action or "list"
    if action == "add":
        return _add(store, args)
    if action == "remove":
        node = store.get(args.name)
        store.remove(args.name)
        if node.needs_secret:
            from viewer.pacs.credentials import forget_secret

            forget_secret(node)
        print(f"removed PACS node {node.name} ({node.address()})")
        return 0
    nodes = sorted(store.nodes.values(), key=lambda node: node.name.lower())
    if args.json:
        print(json.dumps([node.as_dict() for node in nodes], indent=2))
    elif not nodes:
        print(f"no PACS nodes configured ({printable(store.path)}); add one with 'radcam-cli pacs nodes add'")
    else:
        rows = [(node.name, node.kind, node.address(), _detail(node)) for node in nodes]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    return 0


def _detail(node) -> str:
    if node.kind == "dimse":
        extra = f", C-MOVE to port {node.move_port}" if node.retrieve == "move" else ""
        return f"as {node.our_ae_title}, retrieve by C-{node.retrieve.upper()}{extra}, timeout {node.timeout:g} s"
    auth = "no authentication" if node.auth == "none" else \
        f"basic authentication as {node.username}" if node.auth == "basic" else "bearer token"
    tls = "" if node.url.startswith("http://") else \
        ", TLS NOT VERIFIED" if not node.verify_tls else f", CA {node.ca_file}" if node.ca_file else ""
    return f"{auth}{tls}, timeout {node.timeout:g} s"


def _add(store, args: argparse.Namespace) -> int:
    from viewer.pacs.nodes import Node

    given = {name for name in (*DIMSE_OPTIONS, *WEB_OPTIONS) if getattr(args, name) is not None}
    if args.no_verify_tls:
        given.add("no_verify_tls")
    settings: dict = {"name": args.name}
    if args.url is not None:
        mixed = sorted(given & set(DIMSE_OPTIONS))
        if mixed:
            raise UsageError(f"a DICOMweb node (--url) takes no {_options(mixed)}")
        settings.update(kind="dicomweb", url=args.url, auth=args.auth or ("basic" if args.username else "none"),
                        username=args.username or "", verify_tls=not args.no_verify_tls, ca_file=args.ca_file or "")
    else:
        mixed = sorted(given & {*WEB_OPTIONS, "no_verify_tls"})
        if mixed:
            raise UsageError(f"{_options(mixed)} belong to a DICOMweb node: give its --url")
        missing = [name for name in ("ae_title", "host", "port") if getattr(args, name) is None]
        if missing:
            raise UsageError(f"a DIMSE node needs {_options(missing)} (or a DICOMweb node: --url)")
        settings.update(kind="dimse", ae_title=args.ae_title, host=args.host, port=args.port)
        for name in ("our_ae_title", "retrieve", "move_port"):
            if getattr(args, name) is not None:
                settings[name] = getattr(args, name)
    if args.timeout is not None:
        settings["timeout"] = args.timeout
    if settings.get("ca_file"):
        _check_ca_file(settings["ca_file"])
    node = Node(**settings)  # a PacsError names what is wrong
    if args.password_stdin and not node.needs_secret:
        raise UsageError(f"PACS node {node.name!r} uses no authentication: --password-stdin has nothing to store")
    replaced = node.name in store.nodes
    secret = read_secret_line(node) if args.password_stdin else None
    store.put(node)
    print(f"{'replaced' if replaced else 'added'} PACS node {node.name} ({node.kind}, {node.address()})")
    if secret is not None:
        from viewer.pacs.credentials import store_secret

        if store_secret(node, secret):
            print(f"its {_secret_word(node)} is in the OS keyring")
        else:
            print(f"radcam: warning: no OS keyring on this machine: the {_secret_word(node)} was not stored; give "
                  "it with --password-stdin to each command (or on a terminal when asked)", file=sys.stderr)
    elif node.needs_secret:
        print(f"its {_secret_word(node)}: from the OS keyring ('--password-stdin' here stores it), else "
              "--password-stdin or a prompt with each command")
    return 0


def _options(names) -> str:
    return ", ".join("--" + name.replace("_", "-") for name in names)


def _check_ca_file(path: str) -> None:
    from pathlib import Path

    if not Path(path).is_file():
        raise UsageError(f"--ca-file {path}: no such file")


def _secret_word(node) -> str:
    return "token" if node.auth == "bearer" else "password"


def read_secret_line(node) -> str:
    """The first line of stdin, the line break removed; never echoed, never logged."""
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError(f"--password-stdin: stdin gave no {_secret_word(node)} for PACS node {node.name!r}")
    return line


def run_cache(args: argparse.Namespace) -> int:
    from viewer.pacs.cache import PacsCache
    from viewer.pacs.nodes import NodeStore, cache_dir

    store = NodeStore()
    if args.limit is not None:
        store.cache_limit_mb = args.limit
        store.save()
    cache = PacsCache(cache_dir(), limit_bytes=store.cache_limit_mb * MB)
    if args.clear:
        freed = cache.size_bytes()
        cache.clear()
        print(f"cleared the PACS cache {printable(cache_dir())} ({freed / MB:.1f} MB freed)")
    elif args.limit is not None:
        before = cache.size_bytes()
        cache.evict()
        freed = before - cache.size_bytes()
        print(f"cache limit set to {args.limit} MB" + (f" ({freed / MB:.1f} MB of least recently used studies "
                                                        "removed)" if freed else ""))
    studies = cache.studies()
    complete = sum(1 for study in studies if study.complete)
    print(f"cache: {printable(cache_dir())}")
    print(f"size: {cache.size_bytes() / MB:.1f} MB of {store.cache_limit_mb} MB; {len(studies)} "
          f"stud{'y' if len(studies) == 1 else 'ies'} ({complete} complete, {len(studies) - complete} partial)")
    return 0

