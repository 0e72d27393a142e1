"""Property tests over the monitor protocol (docs/architecture.md §4), both monitors: any
request line, however malformed, out of range, nested or binary, is answered with the
documented reply shape or dropped, and the monitor serves on with its init untouched."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from monitor_harness import Task

from pytasks.monitor import protocol

SLEEP = ["sleep", "1000"]
OPS = [protocol.OP_STATE, protocol.OP_WAIT, protocol.OP_KILL, protocol.OP_EXEC,
       protocol.OP_RESIZE, protocol.OP_CLOSE_STDIN, protocol.OP_START, "nosuch", ""]

# Numbers at and past every boundary the protocol has: pids (pid_t, and the 2**32 wrap
# that once made `--pid E+2**32` signal exec E), signals, terminal sizes, 64-bit sizes.
EDGES = [0, 1, -1, 64, 65, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**63, 2**64,
         -(2**63), 10**30]
numbers = st.one_of(st.sampled_from(EDGES), st.integers(), st.floats(allow_nan=True),
                    st.booleans())
json_values = st.recursive(
    st.one_of(st.none(), numbers, st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
# Never a valid kill of the init: pid 0 or absent is the init, and a real signal to it
# would end the task the test is watching. Everything else about kill is fair game.
NOT_INIT = st.one_of(st.sampled_from([2**31, 2**32, 2**32 + 1, 2**63, -1, 10**30]),
                     st.floats(), st.text(max_size=5), st.booleans())


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["op", "json", "bytes", "nested", "huge"]))
    if kind == "op":
        op = draw(st.sampled_from(OPS))
        message: dict[str, Any] = {"op": op}
        for name in draw(st.lists(st.sampled_from(
                ["pid", "signal", "all", "width", "height", "stdin", "terminal", "process",
                 "stdio", "runtime_argv", "pid_file", "process_file"]), max_size=4)):
            message[name] = draw(json_values)
        if op == protocol.OP_KILL:
            message["pid"] = draw(NOT_INIT)
            message.pop("all", None)
        if op == protocol.OP_EXEC:
            message.pop("runtime_argv", None)  # never run an arbitrary argv
        return json.dumps(message).encode() + b"\n"
    if kind == "json":
        return json.dumps(draw(json_values)).encode() + b"\n"
    if kind == "bytes":
        return draw(st.binary(min_size=1, max_size=200)) + b"\n"
    if kind == "nested":
        depth = draw(st.integers(min_value=100, max_value=200000))
        return b'{"op": ' + b"[" * depth + b"]" * depth + b"}\n"
    return b'{"op": "state", "x": "' + b"a" * (protocol.MAX_LINE + 10) + b'"}\n'


def _send(task: Task, line: bytes) -> dict[str, Any] | None:
    """The reply to line, or None when the monitor closed the connection (or, for a wait
    that is rightly waiting, did not answer in time)."""
    with task.connect() as sock:
        sock.settimeout(2.0)
        try:
            sock.sendall(line)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                data += chunk
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            return None
    return protocol.decode(data)


def test_any_request_line_leaves_the_monitor_serving(task: Task) -> None:
    ready = task.create(SLEEP, start=True)

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests())
    def check(line: bytes) -> None:
        reply = _send(task, line)
        if reply is not None:
            # An error is {error, code, kind} (plus runtime_step: the compiled monitor's
            # unclassified runtime failure, protocol's docstring); anything else is ok.
            assert reply.get("ok") is True or set(reply) - {"runtime_step"} == {
                "error", "code", "kind"}, reply
            if "error" in reply:
                assert isinstance(reply["error"], str) and reply["code"] != "INTERNAL", reply
        state = task.request({"op": protocol.OP_STATE})
        assert state["init_pid"] == ready["pid"] and state["exited"] is False, state

    check()
