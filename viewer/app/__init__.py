"""The application without Qt: the viewer's state and its events, request values, the job contract, the work that
runs on the model thread, and export orchestration. viewer.ui shows it; nothing here imports Qt."""

from .events import Event, HasEvents, field
from .jobs import InlineJobs, Job, Jobs, JobTracker, Part, Quiet, Reporter
from .requests import (
           CompareRequest,
           ExplainKey,
           ExplainRequest,
           ExplainSettings,
           Explanation,
           ModelInfo,
           TrustRequest,
)
from .review_state import ReviewState
from .state import Box, Selection, ViewerState

__all__ = ["Box", "CompareRequest", "Event", "ExplainKey", "ExplainRequest", "ExplainSettings", "Explanation",
           "HasEvents", "InlineJobs", "Job", "JobTracker", "Jobs", "ModelInfo", "Part", "Quiet", "Reporter",
           "ReviewState", "Selection", "TrustRequest", "ViewerState", "field"]
