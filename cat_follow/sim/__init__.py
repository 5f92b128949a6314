"""Closed-loop simulation: a room, a cat cut out of real photos, a rendered camera, a SimCar."""
