"""Scripts run from a checkout (`.venv/bin/python tools/NAME.py`), a package for the tests."""
