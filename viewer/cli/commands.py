"""The sub-commands of radcam-cli, each a module with register(subparsers) that sets `run`."""

from . import info, view

ALL = (info, view)
