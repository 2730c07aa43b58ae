"""Reliability and security tests: limits, access, fuzzed input, faults and load (issue 6)."""
