"""The simulated camera: renders the world (the cat and the decoys) from the SimCar's true pose
and ACTUAL servo angles (not the commanded ones: the servos slew) into its own buffer, then
hands the frame to the pool like any other source."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from cat_follow.calib.store import Calibration
from cat_follow.car.sim import SimCar
from cat_follow.sim.render import Billboard, CameraPose, Renderer, camera_pose
from cat_follow.sim.scenario import Scenario
from cat_follow.sim.sprites import Sprite
from cat_follow.sources.source import FrameSource, PoolWriter, ReadStatus

HELD_POLL_S = 0.003  # how often a camera waiting for a held world looks at its clock


class SimCameraSource(FrameSource):
    name = "simulated camera"

    def __init__(self, scenario: Scenario, renderer: Renderer, car: SimCar, cal: Calibration, sprite: Sprite | None,
                 clock: Callable[[], float], decoy_sprites: tuple[Sprite, ...] = ()) -> None:
        """``sprite`` is the cat's (None with no cat); ``decoy_sprites`` one per scenario decoy."""
        self.scenario = scenario
        self.renderer = renderer
        self.car = car
        self.cal = cal
        self.sprite = sprite
        self.decoy_sprites = dict(zip(scenario.decoys, decoy_sprites, strict=True))
        self.clock = clock  # scenario seconds
        self.fps = scenario.fps
        self.frame_count = None
        self._index = 0
        self._last_t = -1.0  # scenario time of the last frame rendered
        self.last_cam: CameraPose | None = None

    def camera(self) -> CameraPose:
        self.car.advance()
        x, y, th = (float(v) for v in self.car.pose)
        return camera_pose(x, y, th, self.car.pan, self.car.tilt, self.cal.camera_height_m,
                           self.cal.camera_forward_m)

    def _next_instant(self) -> float:
        """The scenario time to render: a later one than the last frame's. A real-time world held
        for perception (``WorldClock``) would make the same picture again, so wait for it to move
        on (polled, at most one frame period: the camera thread keeps its heartbeat)."""
        t = self.clock()
        deadline = time.monotonic() + 1.0 / self.scenario.fps
        while t <= self._last_t and time.monotonic() < deadline:
            time.sleep(HELD_POLL_S)
            t = self.clock()
        self._last_t = t
        return t

    def read(self, writer: PoolWriter) -> ReadStatus:
        t = self._next_instant()
        cam = self.camera()
        self.last_cam = cam
        cat = self.scenario.cat_in_sight(t)
        mirror = cat is not None and math.cos(cat[2] - cam.yaw) > 0  # walking away from us: flip
        others = [Billboard((x, y), self.decoy_sprites[d], d.height_m, d.speed > 0 and math.cos(h - cam.yaw) > 0)
                  for d, (x, y, h) in self.scenario.decoys_in_sight(t)]
        height = self.scenario.cat.height_m if self.scenario.cat else 0.0
        img = self.renderer.render(cam, cat[:2] if cat else None, self.sprite, height, mirror, others)
        index = self._index
        self._index += 1
        return writer.write(img, frame_index=index, t_media_ns=round(t * 1e9))
