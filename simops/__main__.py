"""`python -m simops` runs the simops command."""

from simops.cli import main

if __name__ == "__main__":
    main()
