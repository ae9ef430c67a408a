"""`radcam-cli bench`: RadCAM's speed on this machine, as ratios to the floor (a forward pass) and to the recipes
people use today (viewer.bench.reference), in one run.

    from viewer.bench import run_benchmark
    report = run_benchmark(repeat=5)        # the dict `radcam-cli bench --json` prints

Modules: measure (timers, correlation, peak memory), reference (the tutorial Grad-CAM and the naive per-channel
Score-CAM loop), models (per-model figures), child (one Score-CAM in a fresh process, for its peak memory), display
(DICOM open, window/level, overlay), startup (first window, first heatmap), prescan and batch_explain (a folder's
pre-scan and explain pipeline against the batched forward pass), suite (the run, the goals). No Qt here
(the start-up probes run viewer.ui.timing in a child process); TensorFlow is imported only when a benchmark runs.
"""

from .suite import GOALS, RATIOS, run_benchmark

__all__ = ["GOALS", "RATIOS", "run_benchmark"]
