"""A pinhole camera on the car's pan/tilt head, rendering the room and the cat.

Per pixel, a ray from the camera is cut with the floor (z = 0), the room's four walls and
any interior wall segments; the nearest hit gives the colour (a plank floor, plaster walls
with a skirting board) and a depth. The cat is a billboard of a real cat photo's cut-out,
scaled by distance and drawn only where it is nearer than the scene (so walls hide it); decoys
(dogs, people) are billboards too, all drawn far to near so the nearer one hides the other.

World frame: x, y on the floor, z up, heading counter-clockwise from +x. Pan is positive to
the right and tilt positive up, as on the PiCar-X. Owns its ray and colour buffers (made
once); ``render`` writes into ``self.image``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from cat_follow.sim.sprites import Sprite

WALL_HEIGHT = 0.6
SKIRTING = 0.06
PLANK = 0.14


@dataclass(frozen=True)
class Billboard:
    """A sprite standing upright on the floor at ``pos``, ``height`` metres tall."""

    pos: tuple[float, float]
    sprite: Sprite
    height: float
    mirror: bool = False


@dataclass(frozen=True)
class CameraPose:
    x: float
    y: float
    z: float
    yaw: float    # rad, counter-clockwise from +x
    pitch: float  # rad, up positive


def camera_pose(robot_x: float, robot_y: float, heading: float, pan_deg: float, tilt_deg: float,
                height_m: float, forward_m: float) -> CameraPose:
    """The camera's pose from the robot's pose and the pan/tilt servo angles."""
    return CameraPose(robot_x + forward_m * math.cos(heading), robot_y + forward_m * math.sin(heading),
                      height_m, heading - math.radians(pan_deg), math.radians(tilt_deg))


def basis(cam: CameraPose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward, right and up unit vectors of the camera in world coordinates."""
    cy, sy, cp, sp = math.cos(cam.yaw), math.sin(cam.yaw), math.cos(cam.pitch), math.sin(cam.pitch)
    f = np.array([cy * cp, sy * cp, sp])
    r = np.array([sy, -cy, 0.0])
    u = np.cross(r, f)
    return f, r, u


class Renderer:
    def __init__(self, width: int, height: int, hfov_deg: float, room: tuple[float, float],
                 walls: tuple[tuple[float, float, float, float], ...] = ()) -> None:
        self.w, self.h = width, height
        self.fpx = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        self.room = room
        self.walls = walls
        jj, ii = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        self.a = (jj + 0.5 - width / 2) / self.fpx   # right
        self.b = -(ii + 0.5 - height / 2) / self.fpx  # up
        shape = (height, width)
        self.dx, self.dy, self.dz = (np.empty(shape, np.float32) for _ in range(3))
        self.t = np.empty(shape, np.float32)
        self.image = np.zeros((height, width, 3), np.uint8)
        self._floor_tex = self._make_floor_texture()
        self._wall_tex = self._make_wall_texture()
        self._wall_rows = self._wall_tex.shape[0] // 2

    @staticmethod
    def _make_floor_texture() -> np.ndarray:
        """Warm wooden planks with grain, 100 px per metre, repeating every 2 m."""
        rng = np.random.default_rng(7)
        tex = np.zeros((200, 200, 3), np.float32)
        ys = np.arange(200) / 100.0
        xs = np.arange(200) / 100.0
        plank = (ys // PLANK).astype(int)
        tone = 0.8 + 0.25 * rng.random(plank.max() + 1)
        grain = 0.06 * np.sin(xs[None, :] * 37.0 + plank[:, None] * 1.7) + 0.03 * rng.standard_normal((200, 200))
        base = np.array([70, 120, 170], np.float32)  # BGR brown
        tex[:] = base * (tone[plank][:, None, None] + grain[..., None])
        tex[(ys % PLANK) < 0.006] *= 0.55  # joints
        return np.clip(tex, 0, 255).astype(np.uint8)

    @staticmethod
    def _make_wall_texture() -> np.ndarray:
        """Plaster with soft vertical bands and a skirting board, 100 px per metre; the second
        half is the same wall facing the other way, lit a little less."""
        rows, cols = int(WALL_HEIGHT * 100) + 1, 5000  # 50 m along the walls, no visible wrap
        u = np.arange(cols) / 100.0
        band = 0.94 + 0.06 * np.cos(u * 2 * math.pi / 0.5)
        z = np.arange(rows) / 100.0
        base = np.where((z < SKIRTING)[:, None, None], np.array([120, 135, 150], np.float32),
                        np.array([196, 208, 220], np.float32))
        face = base * band[None, :, None]
        return np.clip(np.concatenate([face, face * 0.92]), 0, 255).astype(np.uint8)

    def _rays(self, cam: CameraPose) -> None:
        f, r, u = basis(cam)
        for out, k in ((self.dx, 0), (self.dy, 1), (self.dz, 2)):
            np.multiply(self.a, r[k], out=out)
            np.multiply(self.b, u[k], out=self.t)  # self.t as scratch: it is rewritten later
            out += self.t
            out += f[k]

    def render(self, cam: CameraPose, cat: tuple[float, float] | None, sprite: Sprite | None,
               cat_height: float, mirror: bool = False, others: Sequence[Billboard] = ()) -> np.ndarray:
        """Draw the scene seen from ``cam`` (the cat, if given, and ``others``) into ``self.image``
        and return it."""
        self._rays(cam)
        dx, dy, dz = self.dx, self.dy, self.dz
        rx, ry = self.room
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            tx = np.where(dx > 0, (rx - cam.x) / dx, -cam.x / dx)
            tx[dx == 0] = np.inf
            ty = np.where(dy > 0, (ry - cam.y) / dy, -cam.y / dy)
            ty[dy == 0] = np.inf
            x_face = tx < ty
            t_wall = np.minimum(tx, ty)
            wall_u = np.where(x_face, cam.y + t_wall * dy, cam.x + t_wall * dx)  # along the wall
            for x0, y0, x1, y1 in self.walls:
                ex, ey = x1 - x0, y1 - y0
                den = dx * ey - dy * ex
                t = ((x0 - cam.x) * ey - (y0 - cam.y) * ex) / den
                s = ((x0 - cam.x) * dy - (y0 - cam.y) * dx) / den
                hit = (t > 0) & (s >= 0) & (s <= 1) & (t < t_wall)
                np.copyto(t_wall, t, where=hit)
                np.copyto(wall_u, (s * math.hypot(ex, ey)).astype(np.float32), where=hit)
                x_face &= ~hit
            t_floor = np.where(dz < 0, -cam.z / dz, np.inf).astype(np.float32)
            floor = t_floor < t_wall
            z_wall = cam.z + t_wall * dz
            wall = ~floor & (z_wall <= WALL_HEIGHT)
            self.t.fill(np.inf)
            np.copyto(self.t, t_wall, where=wall)
            np.copyto(self.t, t_floor, where=floor)
            img = self.image
            img[:] = (205, 210, 214)  # the space above the walls
            # floor: the plank texture sampled at the hit point, darker with distance
            tf = np.where(floor, t_floor, 0.0).astype(np.float32)
            fx = (cam.x + tf * dx) * 100.0
            fy = (cam.y + tf * dy) * 100.0
            floor_rgb = cv2.remap(self._floor_tex, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
            shade = np.clip(1.05 - 0.06 * tf, 0.6, 1.05)
            floor_rgb = cv2.multiply(floor_rgb, cv2.merge([shade, shade, shade]), dtype=cv2.CV_8U)
            np.copyto(img, floor_rgb, where=floor[..., None])
            # walls: the wall texture at (position along the wall, height), one strip per face
            wx = np.where(wall, wall_u * 100.0, 0.0).astype(np.float32)
            wy = np.where(wall, np.clip(z_wall, 0, WALL_HEIGHT) * 100.0, 0.0).astype(np.float32)
            wy += np.where(x_face, self._wall_rows, 0).astype(np.float32)
            wall_rgb = cv2.remap(self._wall_tex, wx, wy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            np.copyto(img, wall_rgb, where=wall[..., None])
        boards = list(others)
        if cat is not None and sprite is not None:
            boards.append(Billboard(cat, sprite, cat_height, mirror))
        f, _, _ = basis(cam)
        boards.sort(key=lambda b: -((b.pos[0] - cam.x) * f[0] + (b.pos[1] - cam.y) * f[1]))  # far first
        for b in boards:
            self._draw_billboard(cam, b)
        return img

    def project(self, cam: CameraPose, point: tuple[float, float, float]) -> tuple[float, float, float] | None:
        """(column, row, depth) of a world point, or None behind the camera."""
        f, r, u = basis(cam)
        q = np.array([point[0] - cam.x, point[1] - cam.y, point[2] - cam.z])
        depth = float(q @ f)
        if depth <= 0.05:
            return None
        return self.w / 2 + self.fpx * float(q @ r) / depth, self.h / 2 - self.fpx * float(q @ u) / depth, depth

    def cat_box(self, cam: CameraPose, cat: tuple[float, float], sprite: Sprite,
                cat_height: float) -> tuple[float, float, float, float, float] | None:
        """(x, y, w, h, depth) of a sprite (the cat's or a decoy's) standing at ``cat``, in the
        image, or None if behind."""
        foot = self.project(cam, (cat[0], cat[1], 0.0))
        head = self.project(cam, (cat[0], cat[1], cat_height))
        if foot is None or head is None:
            return None
        h = foot[1] - head[1]
        if h < 2:
            return None
        w = h * sprite.aspect
        return foot[0] - w / 2, head[1], w, h, foot[2]

    def _draw_billboard(self, cam: CameraPose, board: Billboard) -> None:
        cat, sprite, mirror = board.pos, board.sprite, board.mirror
        box = self.cat_box(cam, cat, sprite, board.height)
        if box is None:
            return
        x, y, w, h, _depth = box
        x0, y0 = round(x), round(y)
        sw, sh = max(1, round(w)), max(1, round(h))
        if x0 >= self.w or y0 >= self.h or x0 + sw <= 0 or y0 + sh <= 0 or sh > 4 * self.h:
            return
        bgr = cv2.resize(sprite.bgr, (sw, sh), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(sprite.alpha, (sw, sh), interpolation=cv2.INTER_AREA)
        if mirror:
            bgr, alpha = bgr[:, ::-1], alpha[:, ::-1]
        cx0, cy0 = max(0, x0), max(0, y0)
        cx1, cy1 = min(self.w, x0 + sw), min(self.h, y0 + sh)
        sub_b = bgr[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0].astype(np.float32)
        sub_a = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        # depth of the billboard along each ray vs the scene: nearer walls hide the cat
        f, _, _ = basis(cam)
        nx, ny = f[0], f[1]
        norm = math.hypot(nx, ny) or 1.0
        nx, ny = nx / norm, ny / norm
        plane = (cat[0] - cam.x) * nx + (cat[1] - cam.y) * ny
        rays = self.dx[cy0:cy1, cx0:cx1] * nx + self.dy[cy0:cy1, cx0:cx1] * ny
        with np.errstate(divide="ignore", invalid="ignore"):
            t_cat = plane / rays
        visible = (t_cat < self.t[cy0:cy1, cx0:cx1]).astype(np.float32)
        a = (sub_a * visible)[..., None]
        dst = self.image[cy0:cy1, cx0:cx1]
        dst[:] = (sub_b * a + dst.astype(np.float32) * (1 - a)).astype(np.uint8)


def seen_box(renderer: Renderer, cam: CameraPose, pos: tuple[float, float], sprite: Sprite | None,
             height: float) -> tuple[float, float, float, float] | None:
    """The projected box of a sprite standing at ``pos``, clipped to the image; None if out of view."""
    if sprite is None:
        return None
    b = renderer.cat_box(cam, pos, sprite, height)
    if b is None:
        return None
    x0, y0 = max(b[0], 0.0), max(b[1], 0.0)
    x1, y1 = min(b[0] + b[2], float(renderer.w)), min(b[1] + b[3], float(renderer.h))
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None
