import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WaitRequest(_message.Message):
    __slots__ = ("container_id", "pid")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    pid: int
    def __init__(self, container_id: _Optional[str] = ..., pid: _Optional[int] = ...) -> None: ...

class WaitResponse(_message.Message):
    __slots__ = ("exit_status", "exited_at", "exit_status_known")
    EXIT_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXITED_AT_FIELD_NUMBER: _ClassVar[int]
    EXIT_STATUS_KNOWN_FIELD_NUMBER: _ClassVar[int]
    exit_status: int
    exited_at: _timestamp_pb2.Timestamp
    exit_status_known: bool
    def __init__(self, exit_status: _Optional[int] = ..., exited_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exit_status_known: _Optional[bool] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("container_ids",)
    CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    container_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, container_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: _containers.RepeatedCompositeFieldContainer[TaskStats]
    def __init__(self, stats: _Optional[_Iterable[_Union[TaskStats, _Mapping]]] = ...) -> None: ...

class TaskStats(_message.Message):
    __slots__ = ("container_id", "timestamp", "cpu", "memory", "pids", "blkio")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    BLKIO_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    timestamp: _timestamp_pb2.Timestamp
    cpu: CpuStats
    memory: MemoryStats
    pids: PidsStats
    blkio: BlkioStats
    def __init__(self, container_id: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cpu: _Optional[_Union[CpuStats, _Mapping]] = ..., memory: _Optional[_Union[MemoryStats, _Mapping]] = ..., pids: _Optional[_Union[PidsStats, _Mapping]] = ..., blkio: _Optional[_Union[BlkioStats, _Mapping]] = ...) -> None: ...

class CpuStats(_message.Message):
    __slots__ = ("usage_ns", "user_ns", "system_ns", "throttled_periods", "throttled_ns", "periods", "limit_cpus")
    USAGE_NS_FIELD_NUMBER: _ClassVar[int]
    USER_NS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_NS_FIELD_NUMBER: _ClassVar[int]
    THROTTLED_PERIODS_FIELD_NUMBER: _ClassVar[int]
    THROTTLED_NS_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_CPUS_FIELD_NUMBER: _ClassVar[int]
    usage_ns: int
    user_ns: int
    system_ns: int
    throttled_periods: int
    throttled_ns: int
    periods: int
    limit_cpus: float
    def __init__(self, usage_ns: _Optional[int] = ..., user_ns: _Optional[int] = ..., system_ns: _Optional[int] = ..., throttled_periods: _Optional[int] = ..., throttled_ns: _Optional[int] = ..., periods: _Optional[int] = ..., limit_cpus: _Optional[float] = ...) -> None: ...

class MemoryStats(_message.Message):
    __slots__ = ("usage", "limit", "cache", "rss", "max_usage", "oom_kills")
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    RSS_FIELD_NUMBER: _ClassVar[int]
    MAX_USAGE_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLS_FIELD_NUMBER: _ClassVar[int]
    usage: int
    limit: int
    cache: int
    rss: int
    max_usage: int
    oom_kills: int
    def __init__(self, usage: _Optional[int] = ..., limit: _Optional[int] = ..., cache: _Optional[int] = ..., rss: _Optional[int] = ..., max_usage: _Optional[int] = ..., oom_kills: _Optional[int] = ...) -> None: ...

class PidsStats(_message.Message):
    __slots__ = ("current", "limit")
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    current: int
    limit: int
    def __init__(self, current: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class BlkioStats(_message.Message):
    __slots__ = ("read_bytes", "write_bytes", "read_ops", "write_ops")
    READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    WRITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    READ_OPS_FIELD_NUMBER: _ClassVar[int]
    WRITE_OPS_FIELD_NUMBER: _ClassVar[int]
    read_bytes: int
    write_bytes: int
    read_ops: int
    write_ops: int
    def __init__(self, read_bytes: _Optional[int] = ..., write_bytes: _Optional[int] = ..., read_ops: _Optional[int] = ..., write_ops: _Optional[int] = ...) -> None: ...

class UpdateTaskRequest(_message.Message):
    __slots__ = ("container_id", "memory_limit", "cpus", "pids_limit")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    memory_limit: int
    cpus: float
    pids_limit: int
    def __init__(self, container_id: _Optional[str] = ..., memory_limit: _Optional[int] = ..., cpus: _Optional[float] = ..., pids_limit: _Optional[int] = ...) -> None: ...

class InspectRequest(_message.Message):
    __slots__ = ("container_ids",)
    CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    container_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, container_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class InspectResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[Inspection]
    def __init__(self, containers: _Optional[_Iterable[_Union[Inspection, _Mapping]]] = ...) -> None: ...

class Inspection(_message.Message):
    __slots__ = ("id", "labels", "container", "task", "task_state_dir")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TASK_STATE_DIR_FIELD_NUMBER: _ClassVar[int]
    id: str
    labels: _containers.ScalarMap[str, str]
    container: _struct_pb2.Struct
    task: TaskInspection
    task_state_dir: str
    def __init__(self, id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., container: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., task: _Optional[_Union[TaskInspection, _Mapping]] = ..., task_state_dir: _Optional[str] = ...) -> None: ...

class TaskInspection(_message.Message):
    __slots__ = ("pid", "status", "created_at", "started_at", "exit_status_known", "exit_status", "exited_at", "monitor", "stdin", "stdout", "stderr", "terminal", "runtime", "cgroup", "memory_limit", "cpus", "pids_limit", "oom_kills", "oom_killed")
    PID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXIT_STATUS_KNOWN_FIELD_NUMBER: _ClassVar[int]
    EXIT_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXITED_AT_FIELD_NUMBER: _ClassVar[int]
    MONITOR_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    CGROUP_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLS_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLED_FIELD_NUMBER: _ClassVar[int]
    pid: int
    status: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    exit_status_known: bool
    exit_status: int
    exited_at: _timestamp_pb2.Timestamp
    monitor: MonitorState
    stdin: str
    stdout: str
    stderr: str
    terminal: bool
    runtime: str
    cgroup: str
    memory_limit: int
    cpus: float
    pids_limit: int
    oom_kills: int
    oom_killed: bool
    def __init__(self, pid: _Optional[int] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exit_status_known: _Optional[bool] = ..., exit_status: _Optional[int] = ..., exited_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., monitor: _Optional[_Union[MonitorState, _Mapping]] = ..., stdin: _Optional[str] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., terminal: _Optional[bool] = ..., runtime: _Optional[str] = ..., cgroup: _Optional[str] = ..., memory_limit: _Optional[int] = ..., cpus: _Optional[float] = ..., pids_limit: _Optional[int] = ..., oom_kills: _Optional[int] = ..., oom_killed: _Optional[bool] = ...) -> None: ...

class MonitorState(_message.Message):
    __slots__ = ("pid", "alive")
    PID_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    pid: int
    alive: bool
    def __init__(self, pid: _Optional[int] = ..., alive: _Optional[bool] = ...) -> None: ...
