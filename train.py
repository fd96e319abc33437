"""python train.py [overrides...]: see README.md and docs/, or `python train.py --help` for the config groups."""

from zoo.training.command import main

if __name__ == "__main__":
    main()
