"""The ``hooklab`` command line. See :mod:`hooklab_cli.main`."""

__version__ = "0.1.0"
