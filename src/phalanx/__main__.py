"""``python -m phalanx ...`` (also what ``torchrun -m phalanx train ...`` runs)."""

from .cli.parser import main

if __name__ == "__main__":
    raise SystemExit(main())
