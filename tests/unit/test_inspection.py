"""inspection.spec_limits and the Struct rendering inspect relies on."""

from __future__ import annotations

import json

from google.protobuf import struct_pb2

from pytasks.api.extension.v1 import extension_pb2
from pytasks.cli.output import message_to_json
from pytasks.inspection import Limits, spec_limits


def test_spec_limits_reads_linux_resources() -> None:
    spec = {"linux": {"resources": {"memory": {"limit": 1 << 26},
                                    "cpu": {"quota": 150000, "period": 100000},
                                    "pids": {"limit": 64}}}}
    assert spec_limits(spec) == Limits(1 << 26, 1.5, 64)


def test_spec_limits_unset_or_unlimited_is_none() -> None:
    assert spec_limits({}) == Limits()
    unlimited = {"linux": {"resources": {"memory": {"limit": -1}, "pids": {"limit": 0},
                                         "cpu": {"quota": -1}}}}
    assert spec_limits(unlimited) == Limits()
    assert spec_limits({"linux": {"resources": {"cpu": {"quota": 50000}}}}).cpus == 0.5


def test_struct_numbers_print_as_integers_with_sorted_keys() -> None:
    record = struct_pb2.Struct()
    record.update({"z": 1, "a": {"uid": 0, "ratio": 0.5, "big": 2**53, "list": [3, 4.25]}})
    text = message_to_json(extension_pb2.Inspection(id="x", container=record))
    container = json.loads(text)["container"]
    assert list(container) == ["a", "z"]
    assert container["a"] == {"big": 2**53, "list": [3, 4.25], "ratio": 0.5, "uid": 0}
    assert '"uid": 0\n' in text and '"z": 1\n' in text and "0.0" not in text
