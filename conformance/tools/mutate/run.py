"""Building and testing mutants in a scratch copy of the tree.

The working tree is never written: the tool copies the files git knows
(tracked and untracked-but-not-ignored) into <scratch>/src, configures each
preset there once, and for every mutant writes the mutated file into that
copy, rebuilds only the `yieldpoint` module, runs the suite, and writes the
original back.

Modes, cheapest first; a costlier mode runs only on the survivors of the
cheaper ones:
  plain    preset default: yp-conform --impl yieldpoint --loop asyncio
           (and trio for trio_rt.c's, hub.c's and runtime.c's: LOOPS_FOR)
  refleak  preset pydebug (python3.11-dbg): the same with --refleak W:R
  asan     preset asan: the same under ASan+UBSan+LSan (the test preset's
           environment, as ci/gate-asan runs it)
"""
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import time

MODES = ("plain", "refleak", "asan")
# The suite runs under asyncio; a runtime's own glue runs only under that
# runtime, so its mutants meet the suite under it too (under asyncio alone
# every one of them would survive, unreached).
LOOPS = "asyncio"
# hub.c holds the trio hub (its run_sync_soon door) beside the asyncio one;
# runtime.c initialises trio's glue (a mutant that skips yp__trio_init
# leaves asyncio untouched and trio undetected).
LOOPS_FOR = {"engine/src/py/trio_rt.c": "asyncio,trio",
             "engine/src/py/hub.c": "asyncio,trio",
             "engine/src/py/runtime.c": "asyncio,trio"}


def loops_for(path):
    return LOOPS_FOR.get(path, LOOPS)
PRESET = {"plain": "default", "refleak": "pydebug", "asan": "asan"}
# The module's machine code and constants: equal for two builds means the
# mutant cannot behave differently (an equivalent mutant).
_CODE_SECTIONS = (".text", ".rodata", ".data", ".data.rel.ro")


@dataclasses.dataclass
class Verdict:
    status: str          # killed, survived, stillborn, equivalent
    mode: str = ""       # the mode that killed it
    seconds: float = 0.0
    detail: str = ""     # first failing cases, or the compiler's complaint


def _nice(cmd, nice):
    return (["nice", "-n", str(nice)] if nice else []) + cmd


class Scratch:
    """A copy of the repository with one build directory per preset."""

    def __init__(self, repo, scratch, nice=15, jobs=1, log=print):
        self.repo = os.path.abspath(repo)
        self.root = os.path.abspath(scratch)
        self.src = os.path.join(self.root, "src")
        self.nice, self.jobs, self.log = nice, jobs, log
        self.configured = set()
        self.baseline_code = {}
        self.area_chunks = {}

    # -- the copy -------------------------------------------------------
    def sync(self, rev=None):
        """Copy the repository's files into src/: the working tree's (as
        git lists them: tracked and untracked-but-not-ignored), or those of
        commit `rev` (through `git archive`).  Only files whose content
        changed are written (keeps builds incremental across runs)."""
        origin = self.repo
        if rev is None:
            files = subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=self.repo, check=True, capture_output=True).stdout.split(b"\0")
        else:
            origin = os.path.join(self.root, "rev")
            shutil.rmtree(origin, ignore_errors=True)
            os.makedirs(origin)
            subprocess.run(f"git -C {self.repo} archive {rev} | tar -x -C {origin}",
                           shell=True, check=True)
            files = subprocess.run(
                ["git", "ls-tree", "-r", "-z", "--name-only", rev],
                cwd=self.repo, check=True, capture_output=True).stdout.split(b"\0")
        for rel in (f.decode() for f in files if f):
            a = os.path.join(origin, rel)
            b = os.path.join(self.src, rel)
            if not os.path.isfile(a) or os.path.islink(a):
                continue
            with open(a, "rb") as f:
                data = f.read()
            try:
                with open(b, "rb") as f:
                    if f.read() == data:
                        continue
            except OSError:
                os.makedirs(os.path.dirname(b), exist_ok=True)
            with open(b, "wb") as f:
                f.write(data)
            shutil.copymode(a, b)

    def read(self, rel):
        with open(os.path.join(self.src, rel), encoding="utf-8") as f:
            return f.read()

    def write(self, rel, text):
        with open(os.path.join(self.src, rel), "w", encoding="utf-8") as f:
            f.write(text)

    # -- builds ---------------------------------------------------------
    def build_dir(self, mode):
        return os.path.join(self.src, "build", PRESET[mode])

    def _build(self, mode, targets):
        cmd = ["cmake", "--build", self.build_dir(mode), "-j", str(self.jobs)]
        for t in targets:
            cmd += ["--target", t]
        return subprocess.run(_nice(cmd, self.nice), cwd=self.src,
                              capture_output=True, text=True)

    def prepare(self, mode):
        """Configure and build the preset's module and runner (once)."""
        if mode in self.configured:
            return
        self.log(f"mutate: configuring preset {PRESET[mode]} in {self.src}")
        subprocess.run(_nice(["cmake", "--preset", PRESET[mode]], self.nice),
                       cwd=self.src, check=True, capture_output=True)
        p = self._build(mode, ["yieldpoint_module", "yp-conform"])
        if p.returncode:
            raise RuntimeError(f"the unmutated tree does not build ({mode}):\n"
                               + p.stdout[-3000:] + p.stderr[-3000:])
        self.baseline_code[mode] = self.module_code(mode)
        # Listed with the unmutated module: a mutant may break the import.
        for loops in {LOOPS, *LOOPS_FOR.values()}:
            self.area_chunks[mode, loops] = self.areas(mode, loops)
        self.configured.add(mode)

    def module_path(self, mode):
        d = os.path.join(self.build_dir(mode), "python")
        for name in os.listdir(d):
            if name.startswith("yieldpoint") and name.endswith(".so"):
                return os.path.join(d, name)
        raise FileNotFoundError(f"no yieldpoint module in {d}")

    def module_code(self, mode):
        """A digest of the module's code and data sections."""
        h = hashlib.sha256()
        so = self.module_path(mode)
        for sec in _CODE_SECTIONS:
            p = subprocess.run(["objcopy", "-O", "binary", f"--only-section={sec}",
                                so, "/dev/stdout"], capture_output=True)
            h.update(sec.encode() + b"\0" + p.stdout)
        return h.hexdigest()

    def rebuild(self, mode):
        """Rebuild the module; (ok, compiler output)."""
        p = self._build(mode, ["yieldpoint_module"])
        return p.returncode == 0, p.stdout + p.stderr

    # -- the suite ------------------------------------------------------
    def env(self, mode):
        """The test preset's environment (CMakePresets.json), as
        ci/lib.sh's yp_preset_env exports it."""
        with open(os.path.join(self.src, "CMakePresets.json")) as f:
            tests = {p["name"]: p for p in json.load(f)["testPresets"]}
        env = dict(os.environ)

        def collect(p):
            parents = p.get("inherits", [])
            for parent in [parents] if isinstance(parents, str) else parents:
                collect(tests[parent])
            for k, v in p.get("environment", {}).items():
                env[k] = v.replace("${sourceDir}", self.src)
        collect(tests[PRESET[mode]])
        return env

    def _conform_cmd(self, mode, case_timeout, refleak, report, extra=(),
                     loops=LOOPS):
        bd = self.build_dir(mode)
        cmd = [os.path.join(bd, "conformance", "yp-conform"),
               "--impl", "yieldpoint", "--path", os.path.join(bd, "python"),
               "--loop", loops, "-j", str(self.jobs),
               "--timeout", str(case_timeout), "--json", report, *extra]
        if mode == "refleak" and refleak:
            cmd += ["--refleak", refleak]
        return cmd

    def areas(self, mode, loops=LOOPS):
        """The suite's areas under these runtimes, in the order its
        instances are listed."""
        p = subprocess.run(self._conform_cmd(mode, 30, None, os.devnull, ["--list"],
                                             loops),
                           cwd=self.src, env=self.env(mode), check=True,
                           capture_output=True, text=True)
        out = []
        for line in p.stdout.splitlines():
            area = line.partition("::")[0]
            if area and "\t" in line and area not in out:
                out.append(area)
        if not out:
            raise RuntimeError("yp-conform --list printed no instances")
        return out

    def conform(self, mode, timeout, case_timeout, refleak="2:3", fail_fast=True,
                only=None, loops=LOOPS):
        """Run the whole suite; (killed, detail, seconds).  With fail_fast
        it runs one area at a time (every instance belongs to its area's
        chunk, so a survivor has met the whole suite) and stops at the
        first area that fails."""
        if only:
            chunks = [["--filter", only]]
        elif fail_fast:
            chunks = [["--filter", a] for a in self.area_chunks[mode, loops]]
        else:
            chunks = [[]]
        t0 = time.monotonic()
        for extra in chunks:
            report = os.path.join(self.root, f"report-{mode}.json")
            try:
                os.unlink(report)
            except FileNotFoundError:
                pass
            cmd = self._conform_cmd(mode, case_timeout, refleak, report, extra,
                                    loops)
            left = timeout - (time.monotonic() - t0)
            try:
                p = subprocess.run(_nice(cmd, self.nice), cwd=self.src,
                                   env=self.env(mode), capture_output=True,
                                   text=True, timeout=max(left, 1))
            except subprocess.TimeoutExpired:
                return True, f"the suite ran over {timeout} s (a hang)", \
                    time.monotonic() - t0
            if p.returncode != 0:
                return True, _failures(report, p), time.monotonic() - t0
        return False, "", time.monotonic() - t0


def _failures(report, proc):
    """The first failing instances of a run, for the record."""
    try:
        with open(report) as f:
            rep = json.load(f)
        bad = [f"{c['id']}: {c['status']}" for c in rep.get("cases", [])
               if c.get("outcome") not in ("ok", None)]
        if bad:
            more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
            return "; ".join(bad[:3]) + more
    except (OSError, ValueError):
        pass
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    return f"exit {proc.returncode}: " + " | ".join(tail)


def run_mutant(scratch, mutant, modes, timeout, case_timeout, refleak, only=None):
    """Build and test one mutant in every mode until one kills it."""
    original = scratch.read(mutant.path)
    if original[mutant.start:mutant.end] != mutant.old:
        raise RuntimeError(f"{mutant.id}: the source changed since generation")
    t0 = time.monotonic()
    for mode in modes:
        scratch.prepare(mode)   # from the unmutated copy
    try:
        scratch.write(mutant.path, mutant.apply(original))
        for i, mode in enumerate(modes):
            ok, out = scratch.rebuild(mode)
            if not ok:
                err = next((l for l in out.splitlines() if "error" in l), out[-200:])
                return Verdict("stillborn", detail=err.strip()[:300],
                               seconds=time.monotonic() - t0)
            if i == 0 and scratch.module_code(mode) == scratch.baseline_code[mode]:
                return Verdict("equivalent", detail="identical machine code",
                               seconds=time.monotonic() - t0)
            killed, detail, _ = scratch.conform(mode, timeout, case_timeout, refleak,
                                                only=only,
                                                loops=loops_for(mutant.path))
            if killed:
                return Verdict("killed", mode, time.monotonic() - t0, detail)
        return Verdict("survived", seconds=time.monotonic() - t0)
    finally:
        scratch.write(mutant.path, original)
