"""The next image, ahead of the reader: once an image's map is on screen, the image J would open next is decoded
on the IO thread and explained with the same settings on the model thread, so that J shows image and map at once.

The decoded frame is kept here (one); the explanation is kept by ModelSession (`prefetch`), which hands it back
when the explain controller asks for the same key. Both are jobs of their own kinds: a user's decode or explain is
never cancelled by them, and a newer prefetch replaces an older one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.app import ExplainKey, ExplainRequest, ViewerState
from viewer.app.review import Entry
from viewer.app.review_state import ReviewState
from viewer.app.session import ModelSession
from viewer.app.state import Selection
from viewer.io import DisplayImage

from .decoding import Decoder
from .image_controller import decode
from .jobs import QtJobs

Decoded = tuple[DisplayImage, np.ndarray, float]


class Prefetcher:
    def __init__(self, state: ViewerState, jobs: QtJobs, session: ModelSession, decoder: Decoder):
        self.state, self.jobs, self.session, self.decoder = state, jobs, session, decoder
        self.decoded: tuple[Selection, Decoded] | None = None  # the next image, decoded
        self.explained: ExplainKey | None = None  # the key ModelSession holds a map for
        self.enabled = True
        self.hits = 0  # images shown from the prefetched decode (tests, bench)

    def ahead(self, review: ReviewState, entry: Entry | None) -> None:
        """Decode and explain `entry`, the image J would open next (nothing when there is none or no model)."""
        session, current = review.session, review.current
        if not self.enabled or session is None or current is None or self.state.model is None:
            return
        if entry is None or entry.id == current:
            return
        target = Selection(Path(entry.path), entry.frame)
        if self.decoded is not None and self.decoded[0] == target:
            if self.explained != self._key(self.decoded[1]):  # other settings since: explain it again, not decode
                self._decoded(target, self.decoded[1])
            return
        decoder = self.decoder
        self.jobs.io.submit(lambda _reporter: decode(decoder, target.path, target.frame),
                            lambda decoded: self._decoded(target, decoded), _ignore, kind="prefetch-decode",
                            replace=True)

    def _key(self, decoded: Decoded) -> ExplainKey | None:
        image, model, s = decoded[0], self.state.model, self.state.settings
        if model is None:
            return None
        return ExplainKey(str(image.path), image.frame, s.method, s.target, s.layer, str(model.path))

    def _decoded(self, target: Selection, decoded: Decoded) -> None:
        self.decoded = (target, decoded)
        key = self._key(decoded)
        if key is None:
            return
        request = ExplainRequest(key=key, pixels=decoded[1], base=decoded[1], style=self.state.style)
        session = self.session
        self.jobs.model.submit(lambda reporter: session.prefetch(request, reporter), self._explained, _ignore,
                               kind="prefetch", replace=True)

    def _explained(self, key: ExplainKey) -> None:
        self.explained = key

    def show(self, target: Selection) -> bool:
        """Show `target` from the decode made ahead, if it is that image; whether it did."""
        if self.decoded is None or self.decoded[0] != target:
            return False
        _target, (image, model_input, span) = self.decoded
        self.decoded = None
        self.jobs.io.cancel("decode")  # a decode asked for before this keypress must not replace it
        self.state.selection = target
        self.state.show_image(image, model_input, span)
        self.hits += 1
        return True


def _ignore(_message: str) -> None:
    """A prefetch that fails costs nothing: the image is decoded and explained when it is opened, and says why."""
