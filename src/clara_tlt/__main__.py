"""`python -m clara_tlt` runs the `clara-tlt` command group."""

from clara_tlt.cli.main import main

if __name__ == "__main__":
    main()
