"""The generated protobuf code: fresh, and pinned field-for-field to the seed's wire contract.

docs/architecture.md §1: the seed Tasks service must stay byte-compatible, and pytasks/api/
is produced only by scripts/gen-proto. The tables below are the seed (and containerd's v1 types)
written out by hand, so an edit to a .proto that changes the wire shape fails here even when
the code was regenerated.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import any_pb2, descriptor_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
from pytasks.api.containerd.types import descriptor_pb2 as types_descriptor_pb2
from pytasks.api.containerd.types import mount_pb2, task_pb2
from pytasks.api.extension.v1 import extension_pb2

ROOT = Path(__file__).resolve().parents[2]
API_DIR = ROOT / "pytasks" / "api"
GEN_SCRIPT = ROOT / "scripts" / "gen-proto"

_VERSION_RE = re.compile(rb"^# Protobuf Python Version: (\S+)$", re.MULTILINE)


# --- freshness ---------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    # __pycache__ is produced by importing the package, not by the generator.
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _gencode_versions(tree: dict[str, bytes]) -> set[str]:
    return {m.decode() for data in tree.values() for m in _VERSION_RE.findall(data)}


def test_committed_code_matches_generator(tmp_path: Path) -> None:
    pytest.importorskip(
        "grpc_tools",
        reason="grpcio-tools is not installed (pip install -e '.[test]'), cannot regenerate",
    )
    out = tmp_path / "api"
    # Run the real script with this interpreter so the comparison uses the same toolchain
    # the committed code is supposed to come from.
    proc = subprocess.run(
        [sys.executable, str(GEN_SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"scripts/gen-proto failed:\n{proc.stdout}{proc.stderr}"

    fresh, committed = _tree(out), _tree(API_DIR)
    problems = [f"missing from pytasks/api/: {n}" for n in sorted(fresh.keys() - committed.keys())]
    problems += [f"not produced by gen-proto: {n}" for n in sorted(committed.keys() - fresh.keys())]
    problems += [
        f"differs: {n}" for n in sorted(fresh.keys() & committed.keys()) if fresh[n] != committed[n]
    ]
    if problems:
        hint = "run: .venv/bin/python scripts/gen-proto"
        ours, theirs = _gencode_versions(fresh), _gencode_versions(committed)
        if ours != theirs:
            # Not a stale .proto but a different grpcio-tools: the headers will never agree.
            hint += (
                f" (note: installed grpcio-tools emits protobuf {sorted(ours)}, committed code"
                f" was made for {sorted(theirs)}; install the pinned grpcio-tools first)"
            )
        pytest.fail("pytasks/api/ is stale; " + hint + "\n  " + "\n  ".join(problems))


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_runtime_range_admits_gencode() -> None:
    # protobuf refuses to load gencode newer than the runtime, so the declared lower bound
    # must be at least the gencode version, and the upper bound must stay within its major.
    versions = _gencode_versions(_tree(API_DIR))
    assert len(versions) == 1, versions
    gencode = _version_tuple(versions.pop())
    pyproject = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"protobuf>=([\d.]+),<(\d+)"', pyproject)
    assert match, "pyproject.toml has no protobuf>=X,<Y dependency"
    assert _version_tuple(match.group(1)) >= gencode
    assert int(match.group(2)) == gencode[0] + 1


# --- descriptor tables -------------------------------------------------------------------

_SCALAR_NAMES = {
    getattr(FieldDescriptor, name): name.removeprefix("TYPE_").lower()
    for name in dir(FieldDescriptor)
    if name.startswith("TYPE_")
}


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return field.enum_type.full_name
    return _SCALAR_NAMES[field.type]


def _field_sig(field: FieldDescriptor) -> str:
    """Render a field as "name=number type", with map/repeated/optional/oneof spelled out."""
    msg = field.message_type
    if msg is not None and msg.GetOptions().map_entry:
        key, value = msg.fields_by_name["key"], msg.fields_by_name["value"]
        kind = f"map<{_type_name(key)},{_type_name(value)}>"
    elif field.is_repeated:
        kind = f"repeated {_type_name(field)}"
    else:
        kind = _type_name(field)
    oneof = field.containing_oneof
    if oneof is not None:
        # proto3 `optional` is a synthetic oneof named "_<field>".
        kind += " optional" if oneof.name == f"_{field.name}" else f" oneof {oneof.name}"
    return f"{field.name}={field.number} {kind}"


def _sigs(message: Descriptor) -> list[str]:
    return [_field_sig(f) for f in message.fields]


TS = "google.protobuf.Timestamp"
ANY = "google.protobuf.Any"

# The seed, message by message (proto/, docs/architecture.md §1).
SEED_MESSAGES: dict[str, list[str]] = {
    "CreateTaskRequest": [
        "container_id=2 string",
        "rootfs=3 repeated containerd.v1.types.Mount",
        "stdin=4 string",
        "stdout=5 string",
        "stderr=6 string",
        "terminal=7 bool",
        "checkpoint=8 containerd.v1.types.Descriptor",
    ],
    "CreateTaskResponse": ["container_id=2 string", "pid=3 uint32"],
    "StartTaskRequest": ["container_id=1 string"],
    "DeleteTaskRequest": ["container_id=1 string"],
    # The seed's shape, not containerd 1.x's {container_id, pid, exit_status, exited_at}.
    "DeleteResponse": ["container_id=1 string", "exit_status=2 uint32", f"exited_at=3 {TS}"],
    "DeleteProcessRequest": ["container_id=1 string", "pid=2 uint32"],
    "GetTaskRequest": ["container_id=1 string"],
    "GetTaskResponse": ["task=1 containerd.v1.types.Task"],
    "ListTasksRequest": ["filter=1 string"],
    "ListTasksResponse": ["tasks=1 repeated containerd.v1.types.Task"],
    "KillRequest": [
        "container_id=1 string",
        "signal=2 uint32",
        "all=3 bool oneof pid_or_all",
        "pid=4 uint32 oneof pid_or_all",
    ],
    "ExecProcessRequest": [
        "container_id=1 string",
        "stdin=2 string",
        "stdout=3 string",
        "stderr=4 string",
        "terminal=5 bool",
        f"spec=6 {ANY}",
    ],
    "ExecProcessResponse": ["pid=1 uint32"],
    "ResizePtyRequest": [
        "container_id=1 string",
        "pid=2 uint32",
        "width=3 uint32",
        "height=4 uint32",
    ],
    "CloseIORequest": ["container_id=1 string", "pid=2 uint32", "stdin=3 bool"],
    "PauseTaskRequest": ["container_id=1 string"],
    "ResumeTaskRequest": ["container_id=1 string"],
    "ListProcessesRequest": ["container_id=1 string"],
    "ListProcessesResponse": ["processes=1 repeated containerd.v1.types.Process"],
    "CheckpointTaskRequest": [
        "container_id=1 string",
        "parent_checkpoint=2 string",
        "options=3 map<string,string>",
    ],
    "CheckpointTaskResponse": ["descriptors=1 repeated containerd.v1.types.Descriptor"],
}

# containerd's `containerd.v1.types` of 2017 (Event deliberately omitted).
TYPES_MESSAGES: dict[str, tuple[type[Message], list[str]]] = {
    "Mount": (
        mount_pb2.Mount,
        ["type=1 string", "source=2 string", "target=3 string", "options=4 repeated string"],
    ),
    "Descriptor": (
        types_descriptor_pb2.Descriptor,
        ["media_type=1 string", "digest=2 string", "size=3 int64"],
    ),
    "Task": (
        task_pb2.Task,
        [
            "id=1 string",
            "container_id=2 string",
            "pid=3 uint32",
            "status=4 containerd.v1.types.Status",
            f"spec=5 {ANY}",
            "stdin=6 string",
            "stdout=7 string",
            "stderr=8 string",
            "terminal=9 bool",
        ],
    ),
    "Process": (
        task_pb2.Process,
        [
            "pid=1 uint32",
            "args=2 repeated string",
            "env=3 repeated string",
            "user=4 containerd.v1.types.User",
            "cwd=5 string",
            "terminal=6 bool",
            "exit_status=7 uint32",
            "status=8 containerd.v1.types.Status",
            f"runtime_data=9 {ANY}",
            "stdin=10 string",
            "stdout=11 string",
            "stderr=12 string",
        ],
    ),
    "User": (
        task_pb2.User,
        ["uid=1 uint32", "gid=2 uint32", "additional_gids=3 repeated uint32"],
    ),
}

EXTENSION_MESSAGES: dict[str, list[str]] = {
    "WaitRequest": ["container_id=1 string", "pid=2 uint32"],
    "WaitResponse": ["exit_status=1 uint32", f"exited_at=2 {TS}", "exit_status_known=3 bool"],
    "StatsRequest": ["container_ids=1 repeated string"],
    "StatsResponse": ["stats=1 repeated pytasks.services.extension.v1.TaskStats"],
    "TaskStats": [
        "container_id=1 string",
        f"timestamp=2 {TS}",
        "cpu=3 pytasks.services.extension.v1.CpuStats",
        "memory=4 pytasks.services.extension.v1.MemoryStats",
        "pids=5 pytasks.services.extension.v1.PidsStats",
        "blkio=6 pytasks.services.extension.v1.BlkioStats",
    ],
    "CpuStats": [
        "usage_ns=1 uint64",
        "user_ns=2 uint64",
        "system_ns=3 uint64",
        "throttled_periods=4 uint64",
        "throttled_ns=5 uint64",
        "periods=6 uint64",
        "limit_cpus=7 double",
    ],
    "MemoryStats": [
        "usage=1 uint64",
        "limit=2 uint64",
        "cache=3 uint64",
        "rss=4 uint64",
        "max_usage=5 uint64",
        "oom_kills=6 uint64",
    ],
    "PidsStats": ["current=1 uint64", "limit=2 uint64"],
    "BlkioStats": [
        "read_bytes=1 uint64",
        "write_bytes=2 uint64",
        "read_ops=3 uint64",
        "write_ops=4 uint64",
    ],
    "UpdateTaskRequest": [
        "container_id=1 string",
        "memory_limit=2 int64 optional",
        "cpus=3 double optional",
        "pids_limit=4 int64 optional",
    ],
}

EMPTY = "google.protobuf.Empty"
SEED_METHODS = [
    ("Create", "CreateTaskRequest", "CreateTaskResponse"),
    ("Start", "StartTaskRequest", EMPTY),
    ("Delete", "DeleteTaskRequest", "DeleteResponse"),
    ("DeleteProcess", "DeleteProcessRequest", "DeleteResponse"),
    ("Get", "GetTaskRequest", "GetTaskResponse"),
    ("List", "ListTasksRequest", "ListTasksResponse"),
    ("Kill", "KillRequest", EMPTY),
    ("Exec", "ExecProcessRequest", "ExecProcessResponse"),
    ("ResizePty", "ResizePtyRequest", EMPTY),
    ("CloseIO", "CloseIORequest", EMPTY),
    ("Pause", "PauseTaskRequest", EMPTY),
    ("Resume", "ResumeTaskRequest", EMPTY),
    ("ListProcesses", "ListProcessesRequest", "ListProcessesResponse"),
    ("Checkpoint", "CheckpointTaskRequest", "CheckpointTaskResponse"),
]


def _qualify(name: str, package: str) -> str:
    return name if name.startswith("google.") else f"{package}.{name}"


def _methods(service: ServiceDescriptor) -> list[tuple[str, str, str]]:
    return [(m.name, m.input_type.full_name, m.output_type.full_name) for m in service.methods]


@pytest.mark.parametrize("name", sorted(SEED_MESSAGES))
def test_seed_message_fields(name: str) -> None:
    assert _sigs(tasks_pb2.DESCRIPTOR.message_types_by_name[name]) == SEED_MESSAGES[name]


def test_seed_has_no_other_messages() -> None:
    assert set(tasks_pb2.DESCRIPTOR.message_types_by_name) == set(SEED_MESSAGES)


@pytest.mark.parametrize("name", sorted(TYPES_MESSAGES))
def test_types_message_fields(name: str) -> None:
    cls, expected = TYPES_MESSAGES[name]
    descriptor = cls.DESCRIPTOR
    assert descriptor.full_name == f"containerd.v1.types.{name}"
    assert _sigs(descriptor) == expected


@pytest.mark.parametrize("name", sorted(EXTENSION_MESSAGES))
def test_extension_message_fields(name: str) -> None:
    descriptor = extension_pb2.DESCRIPTOR.message_types_by_name[name]
    assert _sigs(descriptor) == EXTENSION_MESSAGES[name]


def test_tasks_service_is_exactly_the_seed() -> None:
    package = "containerd.services.tasks.v1"
    service = tasks_pb2.DESCRIPTOR.services_by_name["Tasks"]
    assert service.full_name == f"{package}.Tasks"
    expected = [(n, _qualify(i, package), _qualify(o, package)) for n, i, o in SEED_METHODS]
    assert _methods(service) == expected
    assert list(tasks_pb2.DESCRIPTOR.services_by_name) == ["Tasks"]
    # Unary only: the seed has no streams.
    assert not any(m.client_streaming or m.server_streaming for m in service.methods)


def test_extension_service() -> None:
    package = "pytasks.services.extension.v1"
    service = extension_pb2.DESCRIPTOR.services_by_name["TasksExtension"]
    assert service.full_name == f"{package}.TasksExtension"
    assert _methods(service) == [
        ("Wait", f"{package}.WaitRequest", f"{package}.WaitResponse"),
        ("Stats", f"{package}.StatsRequest", f"{package}.StatsResponse"),
        ("Update", f"{package}.UpdateTaskRequest", EMPTY),
        ("Inspect", f"{package}.InspectRequest", f"{package}.InspectResponse"),
    ]


def test_packages_and_imports() -> None:
    assert tasks_pb2.DESCRIPTOR.package == "containerd.services.tasks.v1"
    for module in (mount_pb2, types_descriptor_pb2, task_pb2):
        assert module.DESCRIPTOR.package == "containerd.v1.types"
    assert extension_pb2.DESCRIPTOR.package == "pytasks.services.extension.v1"
    assert task_pb2.Task.DESCRIPTOR.full_name == "containerd.v1.types.Task"
    # No gogo import survives, and our own imports use the paths that map to pytasks.api.
    deps = sorted(d.name for d in tasks_pb2.DESCRIPTOR.dependencies)
    assert deps == [
        "google/protobuf/any.proto",
        "google/protobuf/empty.proto",
        "google/protobuf/timestamp.proto",
        "pytasks/api/containerd/types/descriptor.proto",
        "pytasks/api/containerd/types/mount.proto",
        "pytasks/api/containerd/types/task.proto",
    ]


@pytest.mark.parametrize("name", ["CreateTaskRequest", "CreateTaskResponse"])
def test_field_one_reserved(name: str) -> None:
    proto = descriptor_pb2.DescriptorProto()
    tasks_pb2.DESCRIPTOR.message_types_by_name[name].CopyToProto(proto)
    assert [(r.start, r.end) for r in proto.reserved_range] == [(1, 2)]  # end is exclusive


# --- wire bytes --------------------------------------------------------------------------


def test_create_request_container_id_is_field_2() -> None:
    data = tasks_pb2.CreateTaskRequest(container_id="x").SerializeToString()
    assert data.startswith(b"\x12\x01x")  # tag (2 << 3 | LEN), length 1, "x"


def test_create_response_wire() -> None:
    data = tasks_pb2.CreateTaskResponse(container_id="x", pid=5).SerializeToString()
    assert data == b"\x12\x01x\x18\x05"


def test_delete_response_exit_status_is_field_2() -> None:
    assert tasks_pb2.DeleteResponse(exit_status=137).SerializeToString() == b"\x10\x89\x01"
    resp = tasks_pb2.DeleteResponse(
        container_id="c", exit_status=1, exited_at=timestamp_pb2.Timestamp(seconds=1)
    )
    assert resp.SerializeToString() == b"\x0a\x01c\x10\x01\x1a\x02\x08\x01"


def test_kill_oneof_pid_or_all() -> None:
    req = tasks_pb2.KillRequest(container_id="c", signal=9, all=True)
    assert req.WhichOneof("pid_or_all") == "all"
    req.pid = 42  # setting one member clears the other
    assert req.WhichOneof("pid_or_all") == "pid"
    assert not req.all
    assert req.SerializeToString() == b"\x0a\x01c\x10\x09\x20\x2a"
    req.all = True
    assert req.WhichOneof("pid_or_all") == "all"
    assert req.pid == 0
    # all=false is still "set" inside a oneof and must survive the wire, unlike a plain bool.
    explicit = tasks_pb2.KillRequest(all=False)
    assert explicit.SerializeToString() == b"\x18\x00"
    assert tasks_pb2.KillRequest.FromString(b"\x18\x00").WhichOneof("pid_or_all") == "all"


def test_task_spec_is_any() -> None:
    field = task_pb2.Task.DESCRIPTOR.fields_by_name["spec"]
    assert field.message_type.full_name == ANY
    spec = any_pb2.Any(type_url="1.0.0-rc5", value=b'{"ociVersion":"1.0.0-rc5"}')
    task = task_pb2.Task(id="c", container_id="c", status=task_pb2.RUNNING, spec=spec)
    again = task_pb2.Task.FromString(task.SerializeToString())
    assert again.spec.value == spec.value
    assert again.status == task_pb2.RUNNING


def test_status_enum_values() -> None:
    assert dict(task_pb2.Status.items()) == {
        "UNKNOWN": 0,
        "CREATED": 1,
        "RUNNING": 2,
        "STOPPED": 3,
        "PAUSED": 4,
    }
    assert task_pb2.Status.DESCRIPTOR.full_name == "containerd.v1.types.Status"


def test_checkpoint_options_is_string_map() -> None:
    req = tasks_pb2.CheckpointTaskRequest(container_id="c", options={"exit": "true"})
    req.options["tcp-established"] = "1"
    again = tasks_pb2.CheckpointTaskRequest.FromString(req.SerializeToString())
    assert dict(again.options) == {"exit": "true", "tcp-established": "1"}
    with pytest.raises(TypeError):
        req.options["bad"] = 1  # type: ignore[assignment]


def test_update_request_optional_presence() -> None:
    # Update must tell "leave unchanged" from "set to 0", hence proto3 optional.
    req = extension_pb2.UpdateTaskRequest(container_id="c", cpus=0.0)
    assert req.HasField("cpus")
    assert not req.HasField("memory_limit")
    assert req.SerializeToString() == b"\x0a\x01c\x19" + b"\x00" * 8


def test_wait_response_unknown_exit() -> None:
    resp = extension_pb2.WaitResponse(exit_status=255, exit_status_known=False)
    assert resp.SerializeToString() == b"\x08\xff\x01"
