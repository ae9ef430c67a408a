"""The sub-commands of radcam-cli, each a module with register(subparsers) that sets `run`."""

from . import bench, evaluate, explain, info, layers, methods, pacs_cmd, predict, report, session_cmd, view

ALL = (info, view, explain, predict, methods, layers, evaluate, bench, report, session_cmd, pacs_cmd)
