from __future__ import annotations

from dataclasses import fields
from multiprocessing import shared_memory

from cat_follow.config import Config, config_from_dict
from cat_follow.memory.pool import COMMAND_CAPACITY, allocate_pool, pool_nbytes


def test_every_array_is_a_view_of_one_backing_buffer(config: Config) -> None:
    pool = allocate_pool(config)
    base = pool.frame_latest.base
    assert base is not None
    for f in fields(pool):
        arr = getattr(pool, f.name)
        assert arr.base is base, f.name
        assert arr.ctypes.data % 64 == 0, f"{f.name} is not 64-byte aligned"
    assert pool.nbytes() <= pool_nbytes(config)


def test_sizes_follow_the_config() -> None:
    cfg = config_from_dict({"camera": {"width": 320, "height": 240, "slots": 4}})
    pool = allocate_pool(cfg)
    assert pool.frame_latest.shape == (4, 240, 320, 3)
    assert pool.frame_for_detector.shape == (240, 320, 3)
    assert pool.readers == 2
    assert pool.commands.shape == (COMMAND_CAPACITY,)
    assert pool.frame_ctl[0] == -1 and (pool.reader_pin == -1).all()
    assert (pool.frame_meta["width"] == 320).all() and (pool.frame_meta["height"] == 240).all()


def test_pool_can_live_in_shared_memory(config: Config) -> None:
    """The same layout on a SharedMemory block: a second mapping sees the first one's writes."""
    shm = shared_memory.SharedMemory(create=True, size=pool_nbytes(config))
    other = shared_memory.SharedMemory(name=shm.name)
    try:
        a = allocate_pool(config, buffer=shm.buf)
        b = allocate_pool(config, buffer=other.buf, initialise=False)
        a.frame_latest[2, 10, 20] = (1, 2, 3)
        a.bbox[0]["score"] = 0.5
        a.odometry[:] = (1.0, 2.0, 0.25)
        assert tuple(b.frame_latest[2, 10, 20]) == (1, 2, 3)
        assert b.bbox[0]["score"] == 0.5
        assert tuple(b.odometry) == (1.0, 2.0, 0.25)
        assert b.frame_ctl[0] == -1  # initialised by the creator, not reset by the attacher
    finally:
        del a, b
        other.close()
        shm.close()
        shm.unlink()
