"""Car back-ends behind one interface: the real PiCar-X (lazy import) and a simulated twin."""
