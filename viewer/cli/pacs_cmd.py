"""`radcam-cli pacs nodes|echo|find|get|send|cache`: PACS nodes configured, queried, retrieved from and sent to.

The parser is here; the work is in pacs_nodes (nodes, cache: no network) and pacs_net (echo, find, get, send).
Every failure is a PacsError or UsageError: one `radcam: error:` line naming the node, exit 2.
"""

from __future__ import annotations

import argparse

from .paths import positive_int

SECRET_HELP = ("read the node's password or token from the first line of stdin (else the OS keyring, else a prompt "
               "on a terminal)")


def register(sub) -> None:
    parser = sub.add_parser(
        "pacs", help="PACS nodes: configure, echo, find studies, retrieve into the cache, send (see 'pacs --help')",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Query and retrieve studies from a PACS (DIMSE C-FIND/C-GET/C-MOVE or DICOMweb QIDO/WADO-RS) "
                    "into RadCAM's\ncache, and send exports back (C-STORE or STOW-RS). Nodes are kept in pacs.json "
                    "in RadCAM's\nconfiguration folder (RADCAM_CONFIG_DIR); passwords never are (OS keyring, else "
                    "asked).",
        epilog="examples:\n"
               "  radcam-cli pacs nodes add main --ae-title ORTHANC --host pacs.local --port 4242\n"
               "  radcam-cli pacs nodes add web --url https://pacs.local/dicom-web --auth basic --username me "
               "--password-stdin\n"
               "  radcam-cli pacs find main --patient-id 12345 --date 20240101-20240131\n"
               "  radcam-cli pacs get main 1.2.840.113619.2.55.3 --via move\n"
               "  radcam-cli pacs send web radcam-out/\n\n"
               "exit status: 0 done; 2 a bad argument, an unreachable or refusing node, any instance refused.")
    actions = parser.add_subparsers(dest="pacs_action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    _nodes(actions)
    _echo(actions)
    _find(actions)
    _get(actions)
    _send(actions)
    _cache(actions)


def _run_nodes(args: argparse.Namespace) -> int:
    from . import pacs_nodes

    return pacs_nodes.run_nodes(args)


def _run_cache(args: argparse.Namespace) -> int:
    from . import pacs_nodes

    return pacs_nodes.run_cache(args)


def _run_net(args: argparse.Namespace) -> int:
    from . import pacs_net

    return pacs_net.run(args)


def _nodes(actions) -> None:
    nodes = actions.add_parser("nodes", help="list, add or remove PACS nodes (default: list)")
    nodes.add_argument("--json", action="store_true", help="the nodes as one JSON array")
    which = nodes.add_subparsers(dest="nodes_action", metavar="list|add|remove", parser_class=type(nodes))
    listing = which.add_parser("list", help="the configured nodes")
    listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON array")
    add = which.add_parser(
        "add", help="add a node (or replace the one of that name)",
        description="A DIMSE node (--ae-title, --host, --port) or a DICOMweb node (--url). The password or token "
                    "of a DICOMweb node goes to the OS keyring (--password-stdin), never to the configuration.")
    add.add_argument("name", metavar="NAME")
    dimse = add.add_argument_group("DIMSE (C-ECHO, C-FIND, C-GET/C-MOVE, C-STORE)")
    dimse.add_argument("--ae-title", metavar="AE", help="the PACS's AE title")
    dimse.add_argument("--host", metavar="H", help="the PACS's host name or address")
    dimse.add_argument("--port", type=_port, metavar="P", help="the PACS's DICOM port")
    dimse.add_argument("--our-ae-title", metavar="A", help="RadCAM's AE title (default RADCAM)")
    dimse.add_argument("--retrieve", choices=("get", "move"),
                       help="C-GET (default: no inbound port) or C-MOVE to RadCAM's Storage SCP")
    dimse.add_argument("--move-port", type=_port, metavar="N",
                       help="the port of RadCAM's Storage SCP for C-MOVE (default 11113; the PACS must know it)")
    web = add.add_argument_group("DICOMweb (QIDO-RS, WADO-RS, STOW-RS)")
    web.add_argument("--url", metavar="URL", help="the DICOMweb base URL (http:// or https://)")
    web.add_argument("--auth", choices=("none", "basic", "bearer"), help="authentication (default none)")
    web.add_argument("--username", metavar="U", help="the user name for basic authentication")
    web.add_argument("--ca-file", metavar="F", help="a CA bundle (PEM) that the server's certificate must chain to")
    web.add_argument("--no-verify-tls", action="store_true",
                     help="accept any certificate (a test server only: anyone on the way could read the traffic)")
    add.add_argument("--password-stdin", action="store_true", help="read the password or token from stdin and "
                     "keep it in the OS keyring (without a keyring: for this command only)")
    add.add_argument("--timeout", type=_seconds, metavar="S", help="network timeout in seconds (default 30)")
    add.set_defaults(run=_run_nodes)
    remove = which.add_parser("remove", help="remove a node (and its stored password)")
    remove.add_argument("name", metavar="NAME")
    nodes.set_defaults(run=_run_nodes)


def _node_arguments(parser: argparse.ArgumentParser, secret: bool = True) -> None:
    parser.add_argument("node", metavar="NODE", help="a configured node (see 'radcam-cli pacs nodes')")
    if secret:
        parser.add_argument("--password-stdin", action="store_true", help=SECRET_HELP)
    parser.set_defaults(run=_run_net)


def _echo(actions) -> None:
    echo = actions.add_parser("echo", help="test a node (C-ECHO, or a QIDO-RS query for DICOMweb)")
    _node_arguments(echo)


def _find(actions) -> None:
    find = actions.add_parser("find", help="find studies (C-FIND / QIDO-RS), or the series of one study (--study)")
    _node_arguments(find)
    find.add_argument("--patient-id", default="", metavar="ID")
    find.add_argument("--patient-name", default="", metavar="NAME", help="DICOM wildcards * and ? allowed")
    find.add_argument("--accession", default="", metavar="A")
    find.add_argument("--date", type=_date_range, metavar="YYYYMMDD[-YYYYMMDD]",
                      help="study date or range (open ends allowed: 20240101-, -20240131)")
    find.add_argument("--modality", default="", metavar="M", help="e.g. CR, DX")
    find.add_argument("--study", metavar="UID", help="list this study's series instead of finding studies")
    find.add_argument("--json", action="store_true", help="the matches as one JSON array")


def _get(actions) -> None:
    get = actions.add_parser("get", help="retrieve a study (or a series) into RadCAM's cache; prints where")
    _node_arguments(get)
    get.add_argument("study", metavar="STUDY_UID")
    get.add_argument("--series", metavar="UID", help="only this series")
    get.add_argument("--via", choices=("get", "move", "wado"),
                     help="C-GET, C-MOVE (DIMSE nodes; default: the node's setting) or WADO-RS (DICOMweb nodes)")
    get.add_argument("--json", action="store_true", help="one JSON object: folder, paths, counts")


def _send(actions) -> None:
    send = actions.add_parser("send", help="send DICOM files (C-STORE / STOW-RS), one result line per instance")
    _node_arguments(send)
    send.add_argument("paths", nargs="+", metavar="PATH",
                      help="DICOM files, or folders (their DICOM files; other files are left out)")
    send.add_argument("--json", action="store_true", help="the per-instance results as one JSON array")


def _cache(actions) -> None:
    cache = actions.add_parser("cache", help="the retrieve cache: where, how big, its limit; --clear empties it")
    cache.add_argument("--clear", action="store_true", help="remove every cached study")
    cache.add_argument("--limit", type=positive_int, metavar="MB",
                       help="keep the cache under MB megabytes (least recently used studies go first)")
    cache.set_defaults(run=_run_cache)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a number 1-65535, not {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"the timeout must be more than 0 s and less than a day, not {text}")
    return value


def _date_range(text: str):
    """YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD → (from, to), either None for an open end."""
    from datetime import datetime

    def day(part: str):
        if not part:
            return None
        try:
            if len(part) != 8 or not part.isdigit():
                raise ValueError
            return datetime.strptime(part, "%Y%m%d").date()
        except ValueError:
            raise argparse.ArgumentTypeError(f"a date is YYYYMMDD or a range YYYYMMDD-YYYYMMDD, not {text!r}") \
                from None

    first, dash, last = text.strip().partition("-")
    start, end = day(first), (day(last) if dash else day(first))
    if start is None and end is None:
        raise argparse.ArgumentTypeError(f"a date is YYYYMMDD or a range YYYYMMDD-YYYYMMDD, not {text!r}")
    if start and end and start > end:
        raise argparse.ArgumentTypeError(f"the range {text} ends before it starts")
    return start, end
