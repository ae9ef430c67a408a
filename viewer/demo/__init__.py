"""Procedural chest phantom (`phantom`) and the writer of the shipped demo studies (`studies`)."""
