"""Names of the files in a task directory (which is also the OCI bundle).

Imports nothing: the resident monitor needs these names but not pathlib. Paths are built
in layout.py, which re-exports these.
"""

TASK_FILE = "task.json"          # task record; written only by the CLI, under the task lock
CONFIG_FILE = "config.json"      # OCI runtime spec of the bundle
ROOTFS_DIR = "rootfs"            # mount point for CreateTaskRequest.rootfs / host-tools root
INIT_PID_FILE = "init.pid"       # written by the runtime (--pid-file)
INIT_EXIT_FILE = "init.exit"     # exit record of the init; written only by the monitor
MONITOR_FILE = "monitor.json"    # how to start the monitor (written by the CLI before spawn)
MONITOR_SOCKET = "monitor.sock"  # control socket, mode 0600
MONITOR_LOG = "monitor.log"      # the monitor's own diagnostics
RUNTIME_LOG = "runtime.log"      # runtime --log (JSON lines)
OUTPUT_LOG = "output.log"        # default stdout/stderr of detached tasks
EXEC_DIR = "exec"                # exec/<pid>.json (record) and exec/<pid>.exit, by the monitor
RECORD_SUFFIX = ".json"
EXIT_SUFFIX = ".exit"


