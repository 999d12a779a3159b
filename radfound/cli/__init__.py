"""The ``radfound`` command line: one small module per subcommand, wired in main.py."""
