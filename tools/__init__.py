"""Scripts run from a checkout's root (`.venv/bin/python -m tools.NAME`), a package for the
tests; they drive simops through its command line with the test harness (tests/helpers)."""
