"""Calibration procedures (calibrate.py, on the car) and their maths (maths.py, tested offline)."""
