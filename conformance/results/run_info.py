"""run_info: where and how a run was made.  Gathered once, in the
enumeration process (the same interpreter build, adapter and environment
as the workers), and carried by every report."""
import datetime
import os
import platform
import subprocess
import sys
import sysconfig

# The module(s) whose version a runtime reports.
_RUNTIME_MODULES = {"asyncio": (), "uvloop": ("uvloop",), "trio": ("trio",),
                    "anyio-asyncio": ("anyio",),
                    "anyio-trio": ("anyio", "trio")}


def _version_of(module):
    try:
        from importlib import metadata
        return metadata.version(module)
    except Exception:                 # noqa: BLE001 -- not installed
        mod = sys.modules.get(module)
        return getattr(mod, "__version__", None)


def runtime_versions(loops, unavailable):
    """{runtime: "name version, ..." or "unavailable: why"}."""
    out = {}
    for lp in loops:
        why = unavailable(lp)
        if why:
            out[lp] = f"unavailable: {why}"
            continue
        parts = [f"asyncio (Python {platform.python_version()})"] \
            if lp in ("asyncio", "anyio-asyncio") else []
        for m in _RUNTIME_MODULES.get(lp, ()):
            parts.append(f"{m} {_version_of(m) or '?'}")
        out[lp] = ", ".join(parts)
    return out


def _sanitizers():
    """Sanitizer runtimes mapped into this process (LD_PRELOADed into the
    stock interpreter by the asan/tsan presets, or linked in)."""
    found = set()
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            maps = f.read()
    except OSError:
        maps = ""
    maps += os.environ.get("LD_PRELOAD", "")
    for lib, name in (("libasan", "ASan"), ("libtsan", "TSan"),
                      ("libubsan", "UBSan"), ("liblsan", "LSan"),
                      ("libclang_rt.asan", "ASan"),
                      ("libclang_rt.tsan", "TSan")):
        if lib in maps:
            found.add(name)
    return sorted(found), "vgpreload" in maps


def _git(conf_dir, *args):
    try:
        p = subprocess.run(["git", "-C", conf_dir, *args],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def suite_revision(conf_dir):
    rev = _git(conf_dir, "rev-parse", "--short=12", "HEAD")
    if rev is None:
        return "unknown (not a git checkout)"
    dirty = _git(conf_dir, "status", "--porcelain", "--untracked-files=no",
                 "--", ".")
    return rev + ("-dirty" if dirty else "")


def gather(adapter, module_name, conf_dir, spec_version, contract, loops,
           unavailable, timeout, expectations_path):
    mod = adapter.module
    decl = mod.__yp_conformance__
    sanitizers, valgrind = _sanitizers()
    refleak = os.environ.get("YP_CONF_REFLEAK") or \
        os.environ.get("YP_REFLEAK") or None
    return {
        "implementation": {
            "name": adapter.name,
            "version": adapter.version or "unknown (no 'version' declared)",
            "module": module_name,
            "module_file": getattr(mod, "__file__", None) or "?",
            "contract": decl.get("contract"),
            "variants": dict(adapter.variants),
            "runtimes_claimed": list(adapter.runtimes),
            "cannot": dict(adapter.cannot),
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "build": ("debug" if hasattr(sys, "gettotalrefcount")
                      else "release"),
            "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
            "compiler": platform.python_compiler(),
            "executable": sys.executable,
            "full": sys.version.replace("\n", " "),
        },
        "runtimes": runtime_versions(loops, unavailable),
        "mode": {
            "sanitizers": sanitizers,
            "valgrind": valgrind,
            "refleak": refleak,
            "timeout": timeout,
        },
        "suite": {
            "spec_version": spec_version,
            "contract": contract,
            "revision": suite_revision(conf_dir),
            "expectations": expectations_path or "none",
        },
        "host": {
            "name": platform.node(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "date": datetime.datetime.now(datetime.timezone.utc)
                        .strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
