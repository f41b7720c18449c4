"""hooklab-capture: activations at any hook point over many texts, in memory or as Parquet shards.

Importing this package is light; the work is in :mod:`hooklab_capture.capture`::

    from hooklab_capture.capture import capture, load_capture
"""

__version__ = "0.1.0"
