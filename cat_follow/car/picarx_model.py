"""What SunFounder's picar-x (08a852ef) does with the calls PicarxCar makes, for the simulator.

Written from picar-x's source, not from this project's odometry:
- ``set_dir_servo_angle`` clamps to -30..30 and REMEMBERS the angle; nothing else moves;
- ``forward``/``backward`` set both motors at call time: the motor on the side picar-x reduces
  (motor 1 for a positive angle, motor 2 for a negative one) gets ``speed * (100 - |angle|) / 100``;
  a later steering change alone leaves the motors as they were;
- ``set_motor_speed`` maps a non-zero speed s (clamped to 100) to a PWM duty of
  ``int(|s| / 2) + 50`` percent, written as ``int(percent / 100 * 4095)`` of a 4095 period;
  0 is duty 0. Motor 2 is mounted mirrored: ``forward`` drives it with -speed;
- ``stop`` writes duty 0 to both motor channels.
"""

from __future__ import annotations

PERIOD = 4095

# The car's body, around the pose point (the middle of the rear axle), metres. SunFounder's
# product size for the assembled PiCar-X is 25.4 x 16.5 x 10.2 cm (10 x 6.5 x 4 in; the figures
# KarimAziev/picar-x-racer's car model is built from), on ~65 mm wheels. The rear wheels sit at
# the back of the chassis: the body ends about a wheel radius (plus the frame's lip) behind
# their axle, so the front bumper is 0.214 m ahead of it.
BODY_LENGTH_M = 0.254
BODY_WIDTH_M = 0.165
BODY_REAR_M = 0.04                          # rear of the body behind the rear axle
BODY_FRONT_M = BODY_LENGTH_M - BODY_REAR_M  # the front bumper ahead of the rear axle
# The ultrasonic module is screwed to the front bumper, facing forward, on the centre line
# (picar-x's assembly; its trig/echo on D2/D3): ranges are measured from there.
SONAR_FORWARD_M = BODY_FRONT_M
DIR_MIN, DIR_MAX = -30.0, 30.0
PAN_MIN, PAN_MAX = -90.0, 90.0
TILT_MIN, TILT_MAX = -35.0, 65.0


def _constrain(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def duty_percent(speed: float) -> float:
    """The PWM duty (percent of the period, as the HAT gets it) for a motor speed -100..100."""
    s = abs(_constrain(speed, -100.0, 100.0))
    if s == 0:
        return 0.0
    percent = int(s / 2) + 50
    return int(percent / 100.0 * PERIOD) * 100.0 / PERIOD


class PicarxModel:
    """The state picar-x keeps: the remembered steering angle, the camera servo angles and, per
    motor, the duty (percent) and the ground direction (+1 forward, -1 backward, 0 stopped)."""

    def __init__(self) -> None:
        self.dir_current_angle = 0.0
        self.pan = 0.0
        self.tilt = 0.0
        self.duty = [0.0, 0.0]
        self.direction = [0, 0]
        self.motor_writes = 0

    def set_motor_speed(self, motor: int, speed: float) -> None:
        """``motor`` 1 or 2; motor 2's positive speed turns its wheel backwards (mirrored)."""
        i = motor - 1
        duty = duty_percent(speed)
        ground = (1 if speed > 0 else -1) * (1 if i == 0 else -1)
        self.duty[i] = duty
        self.direction[i] = ground if duty else 0
        self.motor_writes += 1

    def set_dir_servo_angle(self, value: float) -> None:
        self.dir_current_angle = _constrain(value, DIR_MIN, DIR_MAX)

    def set_cam_pan_angle(self, value: float) -> None:
        self.pan = _constrain(value, PAN_MIN, PAN_MAX)

    def set_cam_tilt_angle(self, value: float) -> None:
        self.tilt = _constrain(value, TILT_MIN, TILT_MAX)

    def _both(self, speed1: float, speed2: float) -> None:
        self.set_motor_speed(1, speed1)
        self.set_motor_speed(2, speed2)

    def forward(self, speed: float) -> None:
        a = self.dir_current_angle
        scale = (100.0 - min(abs(a), DIR_MAX)) / 100.0
        if a > 0:
            self._both(speed * scale, -speed)
        elif a < 0:
            self._both(speed, -speed * scale)
        else:
            self._both(speed, -speed)

    def backward(self, speed: float) -> None:
        a = self.dir_current_angle
        scale = (100.0 - min(abs(a), DIR_MAX)) / 100.0
        if a > 0:
            self._both(-speed, speed * scale)
        elif a < 0:
            self._both(-speed * scale, speed)
        else:
            self._both(-speed, speed)

    def stop(self) -> None:
        self.duty = [0.0, 0.0]
        self.direction = [0, 0]
        self.motor_writes += 2
