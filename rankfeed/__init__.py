"""rankfeed: turn hotel-search user actions into learning-to-rank signal, in real time."""

__version__ = "0.1.0"
