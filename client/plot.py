"""Loss and accuracy curves of a job as a PNG (matplotlib, optional, no pyplot state)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import MissingExtraError
from .types import JobStatus


def plot_curves(status: JobStatus, output: Path, dpi: int = 100) -> Path:
    """Draw loss and train/test accuracy per epoch of `status` into `output` (PNG), atomically."""
    if not status.history:
        raise ValueError(f"job {status.job_id} has no completed epochs yet (state {status.state}); nothing to plot")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("matplotlib") from None
    epochs = [m.epoch for m in status.history]
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display needed, and pyplot's global state stays untouched
    loss_axes, acc_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, [m.loss for m in status.history], marker="o")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="loss")
    acc_axes.plot(epochs, [m.train_accuracy for m in status.history], marker="o", label="train")
    acc_axes.plot(epochs, [m.test_accuracy for m in status.history], marker="o", label="test")
    acc_axes.set(title="accuracy", xlabel="epoch", ylabel="accuracy")
    acc_axes.legend()
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    figure.suptitle(f"job {status.job_id} {status.name}".strip())
    return _save_atomically(figure, Path(output), dpi)


def _save_atomically(figure, output: Path, dpi: int) -> Path:
    """Write the PNG to a temporary name beside `output`, fsync, then rename over it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            figure.savefig(handle, format="png", dpi=dpi)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return output
