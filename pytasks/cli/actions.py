"""The bodies of the everyday verbs, free of click and protobuf.

Both doors call these: the click commands (pytasks/cli/<verb>.py) and the fast path
(fast.py), which parses the common forms of these verbs without importing click. Each body
calls the Engine, the Tasks RPCs without their protobuf envelope; only --format json loads
protobuf, to print the RPC's response message exactly (docs/architecture.md §8).
Parameter names are click's, so one `**params` fits both doors.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pytasks import errors
from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pytasks.cli.app import App
    from pytasks.engine import Exit


def usage_error(verb: str, message: str) -> errors.InvalidArgumentError:
    """A misuse that parsing cannot see (exit 2, as click's usage errors)."""
    return errors.InvalidArgumentError(f"{message} (see 'pytasks {verb} --help')")


def echo(value: object) -> None:
    sys.stdout.write(f"{value}\n")


# start / pause / resume / kill -----------------------------------------------------------------
def start(app: App, containers: Sequence[str]) -> int:
    return for_each(containers, app.engine.start)[1]


def pause(app: App, containers: Sequence[str]) -> int:
    return for_each(containers, app.engine.pause)[1]


def resume(app: App, containers: Sequence[str]) -> int:
    return for_each(containers, app.engine.resume)[1]


def kill(app: App, signal_name: str, all_processes: bool, pid: int | None,
         containers: Sequence[str]) -> int:
    from pytasks import signals

    if all_processes and pid is not None:
        raise usage_error("kill", "--all and --pid are mutually exclusive")
    signum = signals.parse(signal_name)
    return for_each(containers, lambda c: app.engine.kill(
        c, signum, all=all_processes, pid=pid or 0))[1]


# delete ------------------------------------------------------------------------------------------
def delete(app: App, force: bool, output_format: str, containers: Sequence[str]) -> int:
    from pytasks.cli.output import render_table

    results, code = for_each(containers, lambda c: delete_task(app, c, force=force))
    if output_format == "json":
        import json

        from pytasks.cli.output import message_to_json
        from pytasks.service import delete_response

        echo(json.dumps([json.loads(message_to_json(delete_response(c, r)))
                         for c, r in results], indent=2))
    elif results:
        render_table(["TASK", "EXIT STATUS", "EXITED AT"],
                     [[c, *describe_exit(r)] for c, r in results])
    return code


def delete_task(app: App, container: str, *, force: bool) -> Exit:
    """Delete; with force, first Kill SIGKILL (all processes) and Wait, as ctr's rm -f."""
    from pytasks.lifecycle import Status
    from pytasks.task import task_status

    # The status comes from the records (Get would also read the whole spec); an unknown
    # task falls through to Delete, which reports it.
    if force and task_status(app.layout, container) in (
            Status.RUNNING, Status.PAUSED, Status.CREATED, Status.UNKNOWN):
        import signal

        try:
            app.engine.kill(container, signal.SIGKILL, all=True)
        except errors.NotFoundError:
            pass  # it finished meanwhile: exactly what we wanted
        app.engine.wait(container)
    return app.engine.delete(container)


def describe_exit(result: Exit) -> list[str]:
    if result.exited_at_ns is None:
        return ["unknown" if result.status == 255 else str(result.status), "-"]
    return [str(result.status), json_time(result.exited_at_ns)]


def json_time(ns: int) -> str:
    """A time as protobuf's Timestamp JSON: RFC 3339 UTC with 0, 3, 6 or 9 decimals."""
    import time

    secs, nanos = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if nanos % 1_000_000 == 0:
        frac = f".{nanos // 1_000_000:03d}" if nanos else ""
    elif nanos % 1000 == 0:
        frac = f".{nanos // 1000:06d}"
    else:
        frac = f".{nanos:09d}"
    return f"{text}{frac}Z"


def containers_delete(app: App, force: bool, container_ids: Sequence[str]) -> int:
    """Every id is tried; the exit code is the worst one seen. With force, a container's
    task goes first (Kill SIGKILL, Wait, Delete), as podman's `rm -f`: one call frees the
    id whatever state it was in."""
    worst = 0
    for container_id in container_ids:
        try:
            if force:
                try:
                    delete_task(app, container_id, force=True)
                except errors.NotFoundError:
                    pass  # no task: only the record to remove
            app.containers.delete(container_id)
        except errors.PytasksError as exc:
            sys.stderr.write(f"pytasks: {exc}\n")
            worst = max(worst, int(exc.exit_code))
    return worst


# get / list / ps / wait ------------------------------------------------------------------------
def get(app: App, output_format: str, container: str) -> int:
    if output_format == "json":
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
        from pytasks.cli.output import task_json

        echo(task_json(app.service.get(tasks_pb2.GetTaskRequest(container_id=container)).task))
        return 0
    from pytasks.cli.output import render_table

    view = app.engine.get(container)
    rec = view.record
    render_table(["TASK", "PID", "STATUS", "STDIN", "STDOUT", "STDERR"],
                 [[view.task_id, str(view.pid), view.status.name, rec.get("stdin") or "-",
                   rec.get("stdout") or "-", rec.get("stderr") or "-"]])
    return 0


def list_tasks(app: App, filter_text: str, quiet: bool, output_format: str) -> int:
    from pytasks.cli.output import print_ids, render_table

    if output_format == "json" and not quiet:
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
        from pytasks.cli.output import print_message_json

        print_message_json(app.service.list(tasks_pb2.ListTasksRequest(filter=filter_text)))
        return 0
    views = app.engine.list_tasks(filter_text)
    if quiet:
        print_ids(v.task_id for v in views)
    else:
        render_table(["TASK", "PID", "STATUS"],
                     [[v.task_id, str(v.pid), v.status.name] for v in views])
    return 0


def ps(app: App, show_env: bool, output_format: str, container: str) -> int:
    if output_format == "json":
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
        from pytasks.cli.output import print_message_json

        resp = app.service.list_processes(
            tasks_pb2.ListProcessesRequest(container_id=container))
        if not show_env:
            for proc in resp.processes:
                del proc.env[:]  # never print secrets unasked, not even in JSON
        print_message_json(resp)
        return 0
    from pytasks.cli.output import render_table

    entries = app.engine.list_processes(container)
    headers = ["PID", "TYPE", "USER", "STATUS", "CMD", *(["ENV"] if show_env else [])]
    render_table(headers, [process_row(e, show_env) for e in entries])
    return 0


def process_row(entry: Any, show_env: bool = False) -> list[str]:
    import shlex

    status = entry.status
    if status == "STOPPED":
        status += f" ({entry.exit_status})"
    row = [str(entry.pid), entry.kind or "-", entry.user_name or str(entry.uid), status,
           shlex.join(entry.args) if entry.args else "-"]
    if show_env:
        row.append(shlex.join(entry.env) if entry.env else "-")
    return row


def wait(app: App, pid: int | None, output_format: str, container: str) -> int:
    if output_format == "json":
        from pytasks.api.extension.v1 import extension_pb2
        from pytasks.cli.output import print_message_json

        resp = app.service.wait(extension_pb2.WaitRequest(container_id=container,
                                                          pid=pid or 0))
        print_message_json(resp)
        status, known = resp.exit_status, resp.exit_status_known
    else:
        result = app.engine.wait(container, pid or 0)
        echo(result.status)
        status, known = result.status, result.known
    if not known:
        sys.stderr.write(f"pytasks: exit status of {container} is unknown "
                         "(its monitor was lost before recording an exit)\n")
    return status


# run -d ----------------------------------------------------------------------------------------
def run(app: App, detach: bool, remove: bool, terminal: bool, interactive: bool,
        stdin: str | None, stdout: str | None, stderr: str | None, container_id: str,
        command: Sequence[str], **options: Any) -> int:
    """containers create + Create + Start; attached unless -d (see run.py)."""
    from pytasks import ids
    from pytasks.cli.container_spec import build_container

    ids.validate(container_id, "container id")
    if detach and remove:
        raise usage_error("run", "--rm cannot be used with -d/--detach")
    if detach and interactive:
        raise usage_error("run", "-i cannot be used with -d/--detach (use --stdin FIFO)")
    if not detach and any(v is not None for v in (stdin, stdout, stderr)):
        raise usage_error("run", "--stdin/--stdout/--stderr need -d (attached run streams "
                                 "to this terminal)")
    build_container(app, container_id, command, terminal=terminal, **options)
    if detach:
        return run_detached(app, container_id, terminal, stdin, stdout, stderr)
    from pytasks.cli.attached import run_attached

    return run_attached(app, container_id, remove, terminal, interactive)


def run_detached(app: App, container_id: str, terminal: bool, stdin: str | None,
                 stdout: str | None, stderr: str | None) -> int:
    from pytasks.cli.container_spec import resolve_stdio

    try:
        pid = app.engine.create(container_id, terminal=terminal, start=True,
                                **resolve_stdio(app, container_id, stdin, stdout, stderr))
    except BaseException:
        discard(app, container_id, remove_container=True)
        raise
    echo(pid)
    return 0


def discard(app: App, container_id: str, *, remove_container: bool) -> None:
    """Best-effort cleanup after a failure or for --rm: never mask the original error."""
    try:
        delete_task(app, container_id, force=True)
    except errors.PytasksError:
        pass
    if remove_container:
        try:
            app.containers.delete(container_id)
        except errors.PytasksError:
            pass


# exec --------------------------------------------------------------------------------------------
def exec_(app: App, detach: bool, terminal: bool, interactive: bool, cwd: str | None,
          env: Sequence[str], user: str | None, container: str,
          command: Sequence[str]) -> int:
    from pytasks import ids

    ids.validate(container, "container id")
    args = list(command[1:] if command[:1] == ("--",) or command[:1] == ["--"] else command)
    if not args:
        raise usage_error("exec", "missing CMD")
    if detach and interactive:
        raise usage_error("exec", "-i cannot be used with -d/--detach")
    from pytasks.cli.attached import attached_failure, exec_attached

    try:
        process = process_spec(app, container, args, cwd=cwd, env=env, user=user,
                               terminal=terminal)
    except errors.PytasksError as exc:
        if detach:
            raise
        return attached_failure(exc)
    if detach:
        from pytasks.state.layout import OUTPUT_LOG

        log = app.layout.task_file(container, OUTPUT_LOG)
        echo(app.engine.exec(container, process, stdout=log, stderr=log, terminal=terminal))
        return 0
    return exec_attached(app, container, process, terminal, interactive)


def process_spec(app: App, container: str, args: list[str], *, cwd: str | None,
                 env: Sequence[str], user: str | None, terminal: bool) -> dict[str, Any]:
    """The container's process with args/cwd/env/user/terminal overridden (as ctr does)."""
    import json

    from pytasks import spec

    raw = app.engine.spec(container)
    if raw is None:
        app.engine.get(container)  # no task: NotFound (a half-created one has no spec yet)
    base = json.loads(raw or b"{}")
    overridden = spec.apply_overrides(base, args=args, env=env, cwd=cwd, user=user,
                                      terminal=terminal)
    process: dict[str, Any] = overridden["process"]
    if terminal:
        from pytasks.stdio import terminal_size

        size = terminal_size()
        if size is not None:
            # Sized before the process starts, so it never sees 0x0 (runc applies it).
            process["consoleSize"] = {"width": size[0], "height": size[1]}
    return process
