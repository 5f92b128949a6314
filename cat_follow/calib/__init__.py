"""Calibration: the file the app reads (store.py), the procedures run on the car
(procedures.py), the ``cat-follow calibrate`` steps (steps.py) and their maths (maths.py,
tested offline)."""
