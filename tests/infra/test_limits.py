"""Limits at the door, unit by unit: the settings, their TOML keys, and the body check on a WSGI environ."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from allotment.infra.launcher import ServeOptions, gunicorn_settings
from allotment.infra.limits import BodyTooLarge, BodyUnreadable, RequestLimits, hold_body_within
from allotment.placement.config import load_config
from allotment.scheduler.config import load_scheduler_config


class Counting(io.BytesIO):
    """A body stream that counts what was read of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        part = super().read(size)
        self.taken += len(part)
        return part


class Broken:
    def read(self, size: int = -1) -> bytes:
        raise OSError("client went away")


def chunked_environ(stream: Any) -> dict[str, Any]:
    return {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True, "wsgi.input": stream}


def test_an_announced_length_over_the_limit_is_refused_without_reading() -> None:
    stream = Counting(b"x" * 2000)
    with pytest.raises(BodyTooLarge, match="1000 bytes"):
        hold_body_within({"CONTENT_LENGTH": "2000", "wsgi.input": stream}, 1000)
    assert stream.taken == 0
    hold_body_within({"CONTENT_LENGTH": "1000", "wsgi.input": stream}, 1000)  # at the limit: fine
    hold_body_within({"CONTENT_LENGTH": "hi mom", "wsgi.input": stream}, 1000)  # the application's 400
    hold_body_within({"CONTENT_LENGTH": "2000", "wsgi.input": stream}, 0)  # 0: no limit
    assert stream.taken == 0


def test_a_chunked_body_is_read_up_to_the_limit_and_held_with_its_length() -> None:
    stream = Counting(b"x" * (1 << 20))
    with pytest.raises(BodyTooLarge):
        hold_body_within(chunked_environ(stream), 100_000)
    assert stream.taken < 100_000 + (64 << 10) + 1  # stopped one read past the limit
    environ = chunked_environ(io.BytesIO(b'{"name": "x"}'))
    hold_body_within(environ, 100)
    assert environ["CONTENT_LENGTH"] == "13" and environ["wsgi.input"].read() == b'{"name": "x"}'
    with pytest.raises(BodyUnreadable, match="incomplete"):
        hold_body_within(chunked_environ(Broken()), 100)
    # Without a terminated input (a server that does not decode chunks), nothing is read.
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": Broken()}
    hold_body_within(environ, 100)
    assert "CONTENT_LENGTH" not in environ


def test_gunicorn_gets_the_line_and_header_limits() -> None:
    settings = gunicorn_settings(ServeOptions("127.0.0.1", 8778, 1, 1, "info", "p"))
    assert (settings["limit_request_line"], settings["limit_request_field_size"]) == (8190, 16384)
    limits = RequestLimits(limit_request_line=0, limit_request_field_size=100)
    settings = gunicorn_settings(ServeOptions("127.0.0.1", 8778, 1, 1, "info", "p", limits))
    assert (settings["limit_request_line"], settings["limit_request_field_size"]) == (0, 100)


def test_limits_come_from_each_services_table_and_bad_values_are_refused(tmp_path: Path) -> None:
    conf = tmp_path / "allotment.toml"
    conf.write_text("[api]\nmax_request_body_size = 10\nlimit_request_line = 0\n"
                    "[scheduler.api]\nmax_request_body_size = 20\nlimit_request_field_size = 30\n")
    assert load_config(conf).limits == RequestLimits(10, 0, 16384)
    assert load_scheduler_config(conf).limits == RequestLimits(20, 8190, 30)
    assert load_config(None).limits.max_request_body_size == 4 << 20
    assert load_scheduler_config(None).limits.max_request_body_size == 1 << 20
    for text, message in [("[api]\nlimit_request_line = 9000\n", "at most 8190"),
                          ("[api]\nmax_request_body_size = -1\n", "non-negative"),
                          ('[api]\nmax_request_body_size = "4M"\n', "non-negative")]:
        conf.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_config(conf)
    conf.write_text("[scheduler.api]\nmax_body = 1\n")
    with pytest.raises(ValueError, match=r"unknown \[scheduler.api\] option"):
        load_scheduler_config(conf)
