"""Child processes: this benchmark run again (memory, callgrind)."""
import subprocess

from .config import PYTHON, SCRIPT


def run_child(cmd, env=None, timeout=900):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"child failed ({p.returncode}): {' '.join(cmd)}\n"
                           f"{p.stderr[-3000:]}")
    return p


def child_cmd(sub, impl, path):
    """The command line of a child running subcommand `sub` (_mem, _cg)
    on the candidate module `impl` from `path`."""
    cmd = [PYTHON, SCRIPT, sub, "--impl", impl]
    if path:
        cmd += ["--path", path]
    return cmd
