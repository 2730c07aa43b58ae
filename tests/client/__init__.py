"""Tests of the client SDK and nnctl (a package, so module names cannot clash with client/)."""
