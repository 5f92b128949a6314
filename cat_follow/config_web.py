"""The ``[web]`` section: the web view's address, token and limits (``cat_follow.web``)."""

from __future__ import annotations

from dataclasses import dataclass

from cat_follow.config_schema import field_doc as _f


def is_loopback_host(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebConfig:
    host: str = _f("127.0.0.1", "Address the web view binds (--web [HOST:]PORT overrides); anything but a "
                   "loopback address needs a token.")
    port: int = _f(8080, "TCP port of the web view (0 = any free port, logged).", lo=0, hi=65535)
    token: str = _f("", "Secret every request but app.js must carry (header X-Cat-Follow-Token or Authorization: "
                    "Bearer; ?token= for page, stream and JSON GETs; commands: header only). Empty: a random "
                    "one for each run, logged with the page's URL (on loopback too: any local user or page could "
                    "otherwise take every viewer slot). Required when host is not a loopback address.")
    allowed_hosts: str = _f("", "Extra names accepted in the Host header, comma-separated (e.g. picar.local); "
                            "loopback names, this machine's name and IP literals are always accepted.")
    max_clients: int = _f(20, "Stream viewers at once; each one more is answered 503.", lo=1, hi=256)
    write_timeout_s: float = _f(5.0, "A viewer whose socket takes no data for this long (one JPEG stuck in its "
                                "send buffer) is disconnected and its slot freed: a viewer that stops reading "
                                "must not hold a slot forever. Long enough for a slow phone on Wi-Fi.",
                                lo=0.1, hi=120.0)
    jpeg_quality: int = _f(70, "JPEG quality of the stream.", lo=10, hi=100)
    rate_hz: float = _f(15.0, "Encodes per second at most (one encoder, whatever the number of viewers).",
                        lo=0.5, hi=60.0)

    def check(self) -> None:
        if len(self.token) < 8 and (self.token or not is_loopback_host(self.host)):
            raise ValueError(f"token: binding {self.host!r} (not a loopback address) needs a token of at "
                             "least 8 characters" if not self.token else "token: must be at least 8 characters")
