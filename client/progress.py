"""A tqdm progress bar fed with a job's statuses: steps, epoch, loss, accuracy, ETA."""
from __future__ import annotations

from typing import Optional

from tqdm import tqdm

from .types import JobStatus


#: tqdm's own layout without its "<remaining" estimate: that one extrapolates the latest rate,
#: and a first step that waited for the server to compile its kernels (seconds) made it say hours.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]"


def _eta(seconds: float) -> str:
    """Seconds as m:ss (or h:mm:ss), the way tqdm prints times."""
    return tqdm.format_interval(max(0.0, seconds))


class JobProgressBar:
    """Shows a job's progress in mini-batch steps; a no-op when disabled.

    The postfix carries the epoch, latest loss, latest test accuracy and the
    server's ETA, the only one shown (the server knows the epoch timings better than tqdm's rate).
    """

    def __init__(self, job_id: str, enabled: bool = True, file=None) -> None:
        self.job_id = job_id
        self._bar: Optional[tqdm] = None
        if enabled:
            self._bar = tqdm(total=None, desc=f"job {job_id}", unit="step", file=file,
                             dynamic_ncols=True, leave=True, bar_format=BAR_FORMAT)

    def __repr__(self) -> str:
        return f"JobProgressBar(job_id={self.job_id!r}, enabled={self._bar is not None})"

    def __enter__(self) -> "JobProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def update(self, status: JobStatus) -> None:
        """Move the bar to `status` (totals become known once the job starts)."""
        bar = self._bar
        if bar is None:
            return
        if status.total_iterations and bar.total != status.total_iterations:
            bar.total = status.total_iterations
        postfix = {"state": status.state, "epoch": f"{status.epoch}/{status.total_epochs}"}
        if status.loss:
            postfix["loss"] = f"{status.loss:.4f}"
        if status.last_metrics is not None:
            postfix["acc"] = f"{status.last_metrics.test_accuracy:.3f}"
        if status.eta_seconds > 0 and not status.done:
            postfix["eta"] = _eta(status.eta_seconds)
        bar.set_postfix(postfix, refresh=False)
        bar.update(max(0, status.iteration - bar.n))
        bar.refresh()

    def close(self) -> None:
        """Leave the bar on screen at its last position."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
