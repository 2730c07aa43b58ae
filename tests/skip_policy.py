"""The skips CI tolerates, in one place, and the hooks that fail a CI run on any other skip.

CI (`.ci/run`, CI=true) provides MNIST (embedded), Fashion-MNIST (apt), grpcurl, docker-compose,
make and the dev extras, so a test that skips for want of one of them hides a broken setup: with
CI=true such a skip turns the exit status into a failure. Outside CI skips stay skips.
"""

from __future__ import annotations

import os

import pytest

#: reason substring -> why CI may skip it. Anything else that skips with CI=true fails the run.
ALLOWED_SKIPS = {
    "set NNSVC_TORCH_PYTHON": "the PyTorch side of the training benchmark needs an interpreter with "
                              "torch; CI installs none (a comparison, not a check)",
    "this interpreter has torch": "the 'no torch' message can only be checked where torch is absent",
}


def unexpected_skips(skips: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (test id, reason) pairs whose reason matches no ALLOWED_SKIPS entry."""
    return [(nodeid, reason) for nodeid, reason in skips
            if not any(allowed in reason for allowed in ALLOWED_SKIPS)]


def _in_ci() -> bool:
    """Whether this run is CI's (CI=true, as .ci/run and most CI services set it)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class SkipPolicy:
    """A pytest plugin: records every skip; in CI, one not on the allowed list fails the run."""

    def __init__(self) -> None:
        self.skips: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"SkipPolicy({len(self.skips)} skips)"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record every skip with its reason."""
        if report.skipped and isinstance(report.longrepr, tuple):
            self.skips.append((report.nodeid, str(report.longrepr[2])))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """In CI, a skip not on the allowed list fails the run (unless it failed already)."""
        if _in_ci() and exitstatus == 0 and unexpected_skips(self.skips):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """Name the skips CI does not tolerate."""
        bad = unexpected_skips(self.skips)
        if bad and _in_ci():
            terminalreporter.section("skips CI does not allow (tests/skip_policy.py): the run FAILS", red=True)
            for nodeid, reason in bad:
                terminalreporter.line(f"{nodeid}: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    """Install the policy for this session."""
    config.pluginmanager.register(SkipPolicy(), "nnservice-skip-policy")
