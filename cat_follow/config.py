"""One validated configuration model, loaded from a TOML file.

Every section is a frozen dataclass; every field documents itself (``doc``) and carries its bounds. Loading
rejects unknown keys and bad values with an error that names the dotted key (``detector.every_k_frames: must
be >= 1, got 0``). ``cat-follow config`` prints the defaults as a commented TOML file.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cat_follow.config_process import ProcessConfig
from cat_follow.config_record import RecordConfig
from cat_follow.config_schema import build_section, document_as_toml, read_toml
from cat_follow.config_schema import field_doc as _f
from cat_follow.config_timing import TimingConfig
from cat_follow.config_tracks import TracksConfig
from cat_follow.config_verifier import VerifierConfig
from cat_follow.config_web import WebConfig
from cat_follow.errors import ConfigError


@dataclass(frozen=True)
class CameraConfig:
    width: int = _f(640, "Width of the pool's frame slots in pixels; every source is letterboxed to it.",
                    lo=32, hi=4096)
    height: int = _f(480, "Height of the pool's frame slots in pixels.", lo=32, hi=4096)
    slots: int = _f(5, "Frame slots: readers that pin a frame at once (tracker, detector, main) + 2.",
                    lo=3, hi=16)
    camera_id: int = _f(0, "Camera number written into every frame's metadata.", lo=0, hi=255)
    fps: float = _f(30.0, "Frame rate asked of the Pi camera.", lo=1.0, hi=120.0)
    stall_timeout_s: float = _f(1.0, "A camera with no frame for this long is reported as stalled.",
                                lo=0.05, hi=60.0)


@dataclass(frozen=True)
class TrackerConfig:
    max_target_px: int = _f(80, "KCF runs on a copy shrunk so the target's longer side is at most "
                            "this many pixels (KCF's cost grows with the box; 0 = full size).", lo=0, hi=4096)


@dataclass(frozen=True)
class DetectorConfig:
    manifest: str = _f("nanodet_plus_m_1.5x_416", "Detector model: a manifest shipped in "
                       "cat_follow/perception/manifests/ (by name) or a manifest .toml file (by path); it says "
                       "the model's family, input, normalisation and label map (README, 'Choosing the detector').")
    onnx_runtime: str = _f("onnxruntime", "What runs an ONNX model.", choices=("onnxruntime", "opencv"))
    model: str = _f("", "Model file overriding the manifest's; empty = the manifest's file under the assets "
                    "(env CAT_FOLLOW_ASSETS, then the project's assets/). A file matching another shipped "
                    "manifest's sha256 is run with that manifest.")
    labels: str = _f("", "Label map for `cat-follow detect` (SSD); empty = next to the model.")
    label: str = _f("cat", "Class name to follow, looked up in the label map.")
    num_threads: int = _f(2, "Threads given to the TFLite interpreter.", lo=1, hi=8)
    every_k_frames: int = _f(5, "Run the detector every K frames while a target is tracked.", lo=1, hi=1000)
    score_threshold: float = _f(0.4, "Minimum detector score to acquire a cat (confirming it takes a cat crop too).",
                                lo=0.0, hi=1.0)
    keep_threshold: float = _f(0.25, "Lower score that still counts as a hit where the tracker has the cat "
                               "(IoU >= 0.2); safe only because the crop is verified (see [verifier]). With "
                               "no target, a job checks the strongest cat down to it, and a cat verdict makes "
                               "a weak one a candidate (a dark Siamese on a lawn scored 0.26-0.34 for 3 s).",
                               lo=0.0, hi=1.0)
    roi_scale: float = _f(2.5, "While tracking, detect in a square this many box sizes wide around the box "
                          "(a distant cat fills more of the model's input); 0 = whole frame.", lo=0.0, hi=10.0)
    scan_tile_px: int = _f(240, "With no target, alternate whole-frame detection with square tiles this big "
                           "along the horizon, to see cats too small for the whole frame; 0 = off. NanoDet (416 "
                           "input) finds a rendered cat 3 m away in a 240 px tile (0.67), not in a 160 px one.",
                           lo=0, hi=4096)
    mode: str = _f("auto", "Where the detector runs: 'thread' (in this process) or 'process' (a spawned "
                   "child over shared memory, restarted by a watchdog); 'auto' = process with 4+ CPU cores "
                   "(the Pi 4), thread with fewer (measured: README, bench).", choices=("auto", "thread", "process"))
    hang_timeout_s: float = _f(1.0, "A detector with no result this long after a job, and no CPU used "
                               "meanwhile, is replaced: in process mode the process is killed and restarted, in "
                               "thread mode the thread is abandoned and a new one loads a new worker (the tracker "
                               "goes on with KCF meanwhile); one still computing (starved: a process runs at "
                               "process.detector_nice) gets 10x as long; in lock-step runs (--fast) at least "
                               "30 s, so a slow machine gives the same result.",
                               lo=0.1, hi=60.0)
    start_timeout_s: float = _f(20.0, "Process mode: the detector process must be ready (fork server, imports, "
                                "model load) this long after it is started, or the start fails; raise it for a "
                                "slow SD card or an emulated CPU (tests/arm64/check.sh uses 600).",
                                lo=1.0, hi=3600.0)

    def resolved_mode(self) -> str:
        """``mode`` with 'auto' decided for this machine."""
        if self.mode != "auto":
            return self.mode
        return "process" if (os.cpu_count() or 1) >= 4 else "thread"


    def check(self) -> None:
        if self.keep_threshold > self.score_threshold:
            raise ValueError("keep_threshold: must not exceed score_threshold")


@dataclass(frozen=True)
class TargetConfig:
    decide_after: int = _f(2, "Observations that decide, either way: this many detector hits confirm a candidate "
                           "(with a crop that verified as a cat, when the verifier is on; one hit is enough when "
                           "the crop the classifier called a cat is that hit's own box on its own frame), and "
                           "this many not-cat crop checks in a row drop a candidate or a target (a candidate's "
                           "first one already blocks its confirmation). One observation may be noise; two that "
                           "agree decide. It merges target.confirm_hits and verifier.drop_after, both 2 (README, "
                           "\"Tuned constants\"): 3 not-cat checks cost cats_compilation's on_cat in pi4 "
                           ".890 -> .853.", lo=1, hi=100)
    lost_after_s: float = _f(2.0, "A target with no detector hit for this long is dropped (timeout), and so is "
                             "one the detector missed as many times in a row as it runs in this time while "
                             "tracking (lost_after_s * camera.fps / detector.every_k_frames: 12 runs at the "
                             "defaults), sooner when it runs faster after KCF lost the cat: KCF alone drifts onto "
                             "what is next to the cat. Tracks and a rejected box outlive their last hit as long.",
                             lo=0.1, hi=600.0)
    location_radius_m: float = _f(
        0.3, "A cat_location names the cat within this of it: until a cat there is confirmed, cats the camera "
        "sees further from it are not taken (the one the user means, not the detector's favourite); two cats "
        "side by side are at least a body length (~0.45 m) apart.", lo=0.05, hi=5.0)


@dataclass(frozen=True)
class RobotConfig:
    control_hz: float = _f(20.0, "Main loop (state machine + motion) rate without frames: it ticks on each "
                           "tracker result, and at least this often.", lo=1.0, hi=200.0)
    watchdog_s: float = _f(0.3, "Motors stop if the main loop sends no command for this long.", lo=0.05, hi=5.0)
    socket: str = _f("/run/cat-follow/cat-follow.sock", "Unix socket for commands (--socket overrides).")
    arena: tuple[float, float, float, float] = _f(
        (-20.0, 20.0, -20.0, 20.0), "x_min, x_max, y_min, y_max (m, odometry frame) a cat_location may name.")
    calibration: str = _f("", "Calibration file (TOML); empty = built-in PiCar-X defaults (cat_follow/calib/store.py).")
    ultrasonic_hz: float = _f(10.0, "Ultrasonic reads per second (each may busy-wait ~20 ms).", lo=0.5, hi=50.0)
    obstacle_stop_cm: float = _f(20.0, "Stop driving forward when an obstacle is closer than this.", lo=2.0, hi=400.0)
    obstacle_lookahead_s: float = _f(
        0.3, "The range guard refuses forward motion once the obstacle would be inside obstacle_stop_cm after "
        "this long at the speed asked: a reading's age (up to 1 / ultrasonic_hz), a control period and the "
        "motors' spin-down, so the car stops at obstacle_stop_cm, not that far past it.", lo=0.0, hi=5.0)
    ultrasonic_max_age_s: float = _f(0.5, "An older reading counts as unknown (forward speed is capped).",
                                     lo=0.05, hi=10.0)
    stop_resend_s: float = _f(0.5, "While stopped or latched, the car thread sends the stop again this often and "
                              "checks that it took: robot_hat drops a failed I2C write after 5 tries without a "
                              "word, so one lost stop would leave the motors on their last PWM.", lo=0.05, hi=5.0)
    car_hang_s: float = _f(1.0, "A car call (apply/stop) still running after this long means the car thread is "
                           "stuck (an I2C hang; its motor watchdog is stuck with it): no more systemd pings, and "
                           "the service exits with status 3, so systemd restarts it and ExecStopPost resets the "
                           "HAT.", lo=0.2, hi=10.0)
    max_clients: int = _f(16, "Command clients connected at once; one more is read for a single line (obeyed if "
                          "it is `stop`, else refused).", lo=1, hi=1024)
    client_idle_s: float = _f(30.0, "A command client that sends nothing for this long is disconnected, so idle "
                              "clients cannot hold every slot.", lo=0.1, hi=86400.0)
    max_line_bytes: int = _f(256, "Longest command line; longer is answered ERR and the client dropped.",
                             lo=16, hi=65536)

    def check(self) -> None:
        x0, x1, y0, y1 = self.arena
        if not (x0 < x1 and y0 < y1):
            raise ValueError("arena: must be x_min < x_max and y_min < y_max")


@dataclass(frozen=True)
class MotionConfig:
    follow_distance_m: float = _f(0.5, "Distance to keep from the cat.", lo=0.1, hi=5.0)
    stop_band_m: float = _f(0.1, "No driving while within this of the following distance.", lo=0.0, hi=2.0)
    too_close_m: float = _f(0.3, "Reverse slowly when the cat is closer than this.", lo=0.05, hi=5.0)
    max_speed: float = _f(40.0, "Speed limit (PiCar-X units, 0..100).", lo=0.0, hi=100.0)
    reverse_speed: float = _f(15.0, "Speed when backing away from a cat too close.", lo=0.0, hi=100.0)
    nav_speed: float = _f(30.0, "Speed while driving to a commanded location.", lo=0.0, hi=100.0)
    search_speed: float = _f(12.0, "Speed while circling to search.", lo=0.0, hi=100.0)
    speed_gain: float = _f(100.0, "Speed units per metre of distance error.", lo=0.0, hi=1000.0)
    cat_height_m: float = _f(0.25, "Nominal cat height used to estimate distance from the box.", lo=0.05, hi=1.0)
    pan_deadband: float = _f(0.05, "Ignore a horizontal error below this share of half the image.", lo=0.0, hi=0.5)
    pan_gain: float = _f(0.5, "Share of the cat's angle from the image centre corrected per tick (pan and "
                         "tilt); below 1 so that latency and box jitter do not make the camera oscillate.",
                         lo=0.05, hi=1.0)
    pan_rate_dps: float = _f(120.0, "Camera pan slew limit.", lo=1.0, hi=1000.0)
    tilt_rate_dps: float = _f(60.0, "Camera tilt slew limit.", lo=1.0, hi=1000.0)
    steer_per_pan: float = _f(0.6, "Body steering (deg) per degree of camera pan.", lo=0.0, hi=5.0)
    steer_rate_dps: float = _f(180.0, "Steering slew limit.", lo=1.0, hi=2000.0)
    search_pan_deg: float = _f(60.0, "Pan sweep amplitude while searching.", lo=0.0, hi=90.0)
    goal_tolerance_m: float = _f(0.15, "A commanded location counts as reached within this.", lo=0.02, hi=2.0)

    def check(self) -> None:
        if self.too_close_m >= self.follow_distance_m:
            raise ValueError("too_close_m: must be less than follow_distance_m")


@dataclass(frozen=True)
class BehaviourConfig:
    detection_timeout_s: float = _f(2.0, "TRACK -> LOST after this long without the cat.", lo=0.1, hi=60.0)
    search_timeout_s: float = _f(10.0, "One search attempt lasts this long.", lo=0.5, hi=600.0)
    search_retries: int = _f(3, "Search attempts before giving up (-> IDLE).", lo=1, hi=100)
    lost_search_s: float = _f(4.0, "LOST: search near where the cat was last seen for this long.", lo=0.5, hi=600.0)
    navigate_timeout_s: float = _f(60.0, "Give up driving to a location after this long (-> SEARCH).",
                                   lo=1.0, hi=3600.0)


@dataclass(frozen=True)
class LoggingConfig:
    level: str = _f("INFO", "Log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class Config:
    camera: CameraConfig = field(default_factory=CameraConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    verifier: VerifierConfig = field(default_factory=VerifierConfig)
    tracks: TracksConfig = field(default_factory=TracksConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    web: WebConfig = field(default_factory=WebConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)


# Keys an older version read, and what decides in their place (README, "Tuned constants").
RETIRED = {
    "detector.reinit_iou": "KCF is re-initialised where the detector's box and its own are not one box "
                           "(the detectors' NMS IoU, 0.6, the value it had)",
    "verifier.cat_threshold": "a crop verifies as a cat when cat is the classifier's likeliest class",
    "verifier.same_look_s": "the look vouches for the cat for verifier.identity_s",
    "target.confirm_hits": "target.decide_after: the hits that confirm a candidate",
    "verifier.jump": "a box whose centre left the box last checked is checked again",
    "verifier.decoy_iou": "tracks.on_box: a detection this much on the target's box is on the target",
    "tracks.part_of": "tracks.on_box: a leftover box this much inside a matched one is part of it",
    "target.max_misses": "a target the detector missed as many times in a row as it runs in "
                         "target.lost_after_s while tracking is dropped",
    "verifier.not_cat_below": "tracks.p_min: a crop whose cat probability is below it is not a cat",
    "verifier.drop_after": "target.decide_after: the not-cat checks in a row that drop a candidate or a target",
}


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a parsed TOML document into a Config (pure; raises ConfigError)."""
    sections = {f.name: f for f in dataclasses.fields(Config)}
    kwargs: dict[str, Any] = {}
    for name, table in data.items():
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(sorted(sections))})")
        for key in table if isinstance(table, dict) else ():
            if f"{name}.{key}" in RETIRED:
                raise ConfigError(f"{name}.{key}: retired, remove it: {RETIRED[f'{name}.{key}']}")
        kwargs[name] = build_section(name, type(getattr(Config(), name)), table)
    cfg = Config(**kwargs)
    if cfg.camera.width % 2 or cfg.camera.height % 2:
        raise ConfigError("camera.width/camera.height: must be even")
    check_cross_fields(cfg)
    return cfg


FRAME_READERS = 3  # readers that may pin a frame slot at once: tracker, detector, main loop


def check_cross_fields(cfg: Config) -> None:
    """Rules between keys; each error names both sides."""
    if cfg.camera.slots < FRAME_READERS + 2:
        raise ConfigError(f"camera.slots: {cfg.camera.slots} is too few for the {FRAME_READERS} frame readers "
                          f"(tracker, detector, main): camera.slots must be at least readers + 2 = "
                          f"{FRAME_READERS + 2} (one slot being written, one latest)")
    period = 1.0 / cfg.robot.control_hz
    if cfg.robot.watchdog_s <= 2 * period:
        raise ConfigError(f"robot.watchdog_s: {cfg.robot.watchdog_s:g} s must exceed two control periods "
                          f"(2 / robot.control_hz = {2 * period:g} s at {cfg.robot.control_hz:g} Hz), "
                          "or the motor watchdog trips between ticks and the robot never moves")


def load_config(path: str | Path | None) -> Config:
    """Load and validate ``path``; None gives the defaults. Errors name the file and the key."""
    if path is None:
        return Config()
    p = Path(path)
    data = read_toml(p, "config file")
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc


def defaults_as_toml() -> str:
    """The default configuration as a commented TOML document."""
    cfg = Config()
    return document_as_toml([(f.name, getattr(cfg, f.name)) for f in dataclasses.fields(Config)],
                            "cat_follow configuration: every key is optional; shown with its default.")
