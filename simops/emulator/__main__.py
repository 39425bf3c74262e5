"""`python -m simops.emulator [flags]`: run the emulator (same flags as `simops emulator`)."""

from simops.emulator.cli import main

if __name__ == "__main__":
    main()
