"""The CI skip policy: with CI=true, a skip whose reason is not in ALLOWED_SKIPS fails the run."""

from __future__ import annotations

import pytest

from tests.skip_policy import ALLOWED_SKIPS, unexpected_skips

pytest_plugins = ["pytester"]

ALLOWED = next(iter(ALLOWED_SKIPS))


def _run(pytester: pytest.Pytester, monkeypatch, reason: str, ci: str | None):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makepyfile(f"""
        import pytest
        def test_passes():
            assert True
        def test_skips():
            pytest.skip({reason!r})
    """)
    return pytester.runpytest("-p", "tests.skip_policy", "-p", "no:cacheprovider")


def test_an_unlisted_skip_fails_a_ci_run_and_is_named(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, "grpcurl not found", ci="true")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skips CI does not allow*", "*test_skips*grpcurl not found*"])


def test_an_allowed_skip_passes_a_ci_run(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, f"{ALLOWED} to run it", ci="true")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=1)


def test_outside_ci_a_skip_stays_a_skip(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, "grpcurl not found", ci=None)
    assert result.ret == pytest.ExitCode.OK


def test_unexpected_skips_matches_reasons_by_substring():
    skips = [("a", f"because {ALLOWED}"), ("b", "MNIST not found")]
    assert unexpected_skips(skips) == [("b", "MNIST not found")]
