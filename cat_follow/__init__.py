"""cat_follow: find a cat and follow it with a SunFounder PiCar-X."""

__version__ = "0.1.0"
