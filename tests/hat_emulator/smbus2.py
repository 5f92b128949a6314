"""Stand-in for smbus2 (tests only): an SMBus whose only device is the emulated HAT."""

from __future__ import annotations

from hat import HAT


class SMBus:
    def __init__(self, bus: int | None = None, force: bool = False) -> None:
        if bus not in (1, None):
            raise FileNotFoundError(2, f"No such file or directory: '/dev/i2c-{bus}'")
        self.bus = bus

    def write_byte(self, addr: int, data: int) -> None:
        HAT.transaction(addr, write=True)

    def write_byte_data(self, addr: int, reg: int, data: int) -> None:
        HAT.transaction(addr, write=True)
        HAT.write_word(reg, data & 0xFF)

    def write_word_data(self, addr: int, reg: int, data: int) -> None:
        HAT.transaction(addr, write=True)
        HAT.write_word(reg, data & 0xFFFF)

    def write_i2c_block_data(self, addr: int, reg: int, data: list[int]) -> None:
        HAT.transaction(addr, write=True)
        if len(data) >= 2:
            HAT.write_word(reg, data[0] | (data[1] << 8))

    def read_byte(self, addr: int) -> int:
        HAT.transaction(addr)
        return HAT.read_byte()

    def read_byte_data(self, addr: int, reg: int) -> int:
        HAT.transaction(addr)
        return HAT.read_byte()

    def read_word_data(self, addr: int, reg: int) -> int:
        HAT.transaction(addr)
        return HAT.read_byte() | (HAT.read_byte() << 8)

    def read_i2c_block_data(self, addr: int, reg: int, length: int) -> list[int]:
        HAT.transaction(addr)
        return [HAT.read_byte() for _ in range(length)]

    def close(self) -> None:
        pass
