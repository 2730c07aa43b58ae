"""nnservice tests (a package, so the repo root, not tests/, goes on sys.path)."""
