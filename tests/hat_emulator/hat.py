"""The emulated Robot HAT (v4/v5 MCU at I2C 0x14) and the Pi's GPIO lines it is wired to.

Written from robot-hat v2.5.3's sources (pwm.py, adc.py, i2c.py, pin.py, modules.py,
device.py): what the MCU does with each I2C transaction, and what the GPIO lines do.
- PWM: 20 channels. A word written to 0x20+ch is that channel's pulse width (ticks); to
  0x40+t / 0x50+(t-4) the timer's prescaler minus 1; to 0x44+t / 0x54+(t-4) its period
  (ARR). Channels 0-15 use timer ch // 4, 16-17 timer 4, 18 timer 5, 19 timer 6. robot-hat
  sends each word as [reg, high byte, low byte] (SMBus word, low byte first on the wire).
- ADC: a word write to 0x10 | (7 - channel) selects a channel; the next two byte reads
  return its 12-bit value, high byte first.
- Reset: the MCU's reset line is GPIO 5 (robot-hat drives it with `pinctrl set 5 op dl/dh`,
  a separate program: the stand-in in bin/ logs to ``CAT_FOLLOW_HAT_LOG``); pulling it low
  clears every register (PWM outputs at 0).
- Ultrasonic (trig GPIO 27, echo GPIO 22): after the trigger's falling edge the echo goes
  high 0.2 ms later for 2 * distance / 343.3 m/s; no obstacle = the echo never rises. The
  echo runs on robot_hat's own clock, the ``time`` its modules.py times the pulse with
  (``Ultrasonic._read``: ``time.time()`` after each read of the echo line): ``ECHO_CLOCK``
  stands in for it there (emulated_hat.load installs it), so a reading does not depend on
  how busy the machine is.
- ``fail_i2c``: that many next transactions raise OSError 121, as a HAT that went away.
- ``fail_writes``: while True, every I2C write raises OSError 121 (reads still answer), as an
  MCU that stopped taking writes: robot_hat retries each 5 times, then returns False.
- ``fail_gpio``: the next write to one of these GPIO lines raises lgpio.error (a line that
  went bad); robot-hat does not catch it, unlike an I2C OSError, which it retries 5 times
  and then drops without a word (i2c.py's _retry_wrapper).
"""

from __future__ import annotations

import os
import threading
import time

ADDR = 0x14
MCURST = 5
TRIG, ECHO = 27, 22
SOUND_MPS = 343.3


class EchoClock:
    """robot_hat's clock for the ultrasonic: ``time()`` moves on by ``STEP_S`` at each reading
    (one turn of robot_hat's echo loop on a Pi), ``sleep(s)`` by ``s`` (and sleeps). The HAT
    times the echo on it too, so the pulse robot_hat measures is the pulse the HAT sent, to
    one step (0.09 cm), under any load. Everything else passes through to ``time``."""

    STEP_S = 5e-6

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._t = time.time()

    def now(self) -> float:
        """The clock's reading without moving it (the HAT's side)."""
        with self._lock:
            return self._t

    def time(self) -> float:
        with self._lock:
            self._t += self.STEP_S
            return self._t

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
        with self._lock:
            self._t += seconds

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


ECHO_CLOCK = EchoClock()


class Hat:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.log_path = os.environ.get("CAT_FOLLOW_HAT_LOG", "")
        self._log_seen = 0
        self.resets = 0
        self.transactions = 0
        self.fail_i2c = 0
        self.fail_writes = False
        self.failed_writes = 0
        self.fail_gpio: set[int] = set()
        self.distance_cm: float | None = 100.0
        self.adc = [0] * 8
        self.clear()
        self.levels: dict[int, int] = {}
        self.modes: dict[int, str] = {}
        self._trig_fall = -1.0

    def clear(self) -> None:
        self.pulse = [0] * 20
        self.prescaler = [0] * 7  # as written: prescaler - 1
        self.period = [0] * 7
        self._adc_sel: int | None = None
        self._read_queue: list[int] = []

    @staticmethod
    def timer_of(channel: int) -> int:
        return channel // 4 if channel < 16 else {16: 4, 17: 4, 18: 5, 19: 6}[channel]

    # ---- reset line (written by the pinctrl stand-in, another process) -----------------
    def _poll_reset(self) -> None:
        if not self.log_path or not os.path.exists(self.log_path):
            return
        with open(self.log_path, encoding="ascii") as f:
            lines = f.read().splitlines()
        for line in lines[self._log_seen:]:
            pin, level = line.split()
            if int(pin) == MCURST and level == "dl":
                self.resets += 1
                self.clear()
        self._log_seen = len(lines)

    # ---- I2C ---------------------------------------------------------------------------
    def transaction(self, addr: int, write: bool = False) -> None:
        with self.lock:
            self._poll_reset()
            self.transactions += 1
            if write and self.fail_writes:
                self.failed_writes += 1
                raise OSError(121, "Remote I/O error")
            if self.fail_i2c > 0:
                self.fail_i2c -= 1
                raise OSError(121, "Remote I/O error")
            if addr != ADDR:
                raise OSError(121, "Remote I/O error")

    def write_word(self, reg: int, word: int) -> None:
        value = ((word & 0xFF) << 8) | (word >> 8)  # bytes on the wire: low byte, then high byte
        with self.lock:
            if 0x20 <= reg < 0x20 + 20:
                self.pulse[reg - 0x20] = value
            elif 0x40 <= reg < 0x44:
                self.prescaler[reg - 0x40] = value
            elif 0x44 <= reg < 0x48:
                self.period[reg - 0x44] = value
            elif 0x50 <= reg < 0x53:
                self.prescaler[reg - 0x50 + 4] = value
            elif 0x54 <= reg < 0x57:
                self.period[reg - 0x54 + 4] = value
            elif reg & 0xF0 == 0x10:
                v = self.adc[7 - (reg & 0x0F)] & 0xFFF
                self._read_queue = [v >> 8, v & 0xFF]
            else:
                raise OSError(121, f"Remote I/O error (register 0x{reg:02X})")

    def read_byte(self) -> int:
        with self.lock:
            return self._read_queue.pop(0) if self._read_queue else 0

    # ---- GPIO --------------------------------------------------------------------------
    def gpio_write(self, pin: int, level: int) -> None:
        with self.lock:
            if pin in self.fail_gpio:
                self.fail_gpio.clear()
                raise RuntimeError(f"GPIO {pin}: bad write")
            if pin == TRIG and self.levels.get(pin, 0) == 1 and level == 0:
                self._trig_fall = ECHO_CLOCK.now()
            self.levels[pin] = level

    def gpio_read(self, pin: int) -> int:
        with self.lock:
            if pin != ECHO:
                return self.levels.get(pin, 0)
            if self.distance_cm is None or self._trig_fall < 0:
                return 0
            start = self._trig_fall + 0.0002
            width = 2 * self.distance_cm / 100.0 / SOUND_MPS
            return 1 if start <= ECHO_CLOCK.now() < start + width else 0

    # ---- what tests read ---------------------------------------------------------------
    def duty(self, channel: int) -> float:
        """The channel's pulse width as a fraction of its timer's period."""
        period = self.period[self.timer_of(channel)]
        return self.pulse[channel] / period if period else 0.0

    def servo_us(self, channel: int) -> float:
        """The pulse width in microseconds at 50 Hz (20 ms period)."""
        return self.duty(channel) * 20000.0


HAT = Hat()
