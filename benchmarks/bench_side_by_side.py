"""emomucs beside VibeNet on the same files: whole processes, start-up included.

Runs each command line as a user would, once per configuration, on every
``--every``-th audio file of ``--data`` (default: 60 of the 600 4q-dev clips):

- ``emomucs predict --json --jobs N`` (N = all cores) and ``--jobs 1``, and
  ``--jobs 1`` confined to one core (CPU affinity; Linux only): how throughput
  grows with cores, where ``--jobs 1`` on all cores already keeps more than
  one busy (decoding threads beside the analysis);
- ``vibenet -f json`` (PyPI ``vibenet``, the ``bench`` extra; its ONNX weights
  ship inside the wheel), with its own defaults (one thread per core);
- emomucs on one generated 5-minute and one 60-minute file, to show that peak
  memory does not grow with the length of a track;
- both tools on ``--full-tracks`` (default 8; 0: none) full-length tracks of
  real music, each ``--full-minutes`` (4) long, FLAC, made by joining
  consecutive clips of ``--data`` into a temporary folder (emomucs' windows of
  such a track do not overlap, so it analyses 60 s of it in three separate spans);
- where the time goes per stage (``benchmarks/bench_stages.py``: decode, input
  checks, stem features, each feature extractor, head, attribution; one process,
  one torch thread as in each worker), on the clips and on the full-length tracks.

Each tool first runs once on two files, untimed (Python byte-code, numba's
cache and the page cache are then warm, as on a user's second run). Printed
per run: wall seconds per track, time to emomucs' "model ... loaded" line on
stderr and to the first result on stdout, cores used
(CPU time of the whole process tree / wall time), peak RSS of the main process
and of each worker process (``VmHWM`` sampled from /proc every 0.1 s: Linux
only). Not measured: accuracy (VibeNet predicts other quantities), a cold
first run (numba compilation, about 26 s of CPU once per installation), GPUs.

    python benchmarks/bench_side_by_side.py [--data DIR] [--every 10] [--jobs N] [--long-minutes 60] [--full-tracks 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from emomucs_core.results import collect_inputs



@dataclass
class Run:
    """One whole-process run: times in seconds, memory in MiB."""

    name: str
    tracks: int
    ok: int = 0
    wall: float = 0.0
    said: float | None = None  # first line on stderr ("loading model ...")
    loaded: float | None = None  # the line saying the model is loaded (emomucs only)
    first: float | None = None  # first result line on stdout
    last: float | None = None  # when the last result line arrived
    cpu: float = 0.0
    main_rss: float = 0.0
    worker_rss: list[float] = field(default_factory=list)

    @property
    def per_track(self) -> float:
        return self.wall / self.tracks

    @property
    def steady(self) -> float | None:
        """Tracks per second from the first result to the last (start-up left out)."""
        if self.first is None or self.last is None or self.last <= self.first or self.ok < 2:
            return None
        return (self.ok - 1) / (self.last - self.first)


def _peak_rss(pid: int) -> float | None:
    """Peak resident memory (``VmHWM``, MiB) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((line for line in text.splitlines() if line.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (``/proc/PID/task/*/children``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:
                pass
    return found


def _is_worker(pid: int) -> bool:
    """A multiprocessing worker (not its resource tracker)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"spawn_main" in cmd and b"resource_tracker" not in cmd


def measure(name: str, cmd: list[str], tracks: int, count_ok, cores: set[int] | None = None) -> Run:
    """Run ``cmd`` to the end (on ``cores`` only, if given), sampling the memory of its process tree;
    ``count_ok(stdout)`` counts results."""
    run = Run(name, tracks)
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, preexec_fn=pin)
        peaks: dict[int, float] = {}
        workers: set[int] = set()
        seen_out = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            for member in _tree(proc.pid):
                if (rss := _peak_rss(member)) is not None:
                    peaks[member] = max(peaks.get(member, 0.0), rss)
                    if member != proc.pid and member not in workers and _is_worker(member):
                        workers.add(member)
            now = time.perf_counter() - start
            err_size, out_size = os.fstat(err.fileno()).st_size, os.fstat(out.fileno()).st_size
            if run.said is None and err_size > 0:
                run.said = now
            if run.loaded is None and err_size > 0 and b" loaded" in _head(err):
                run.loaded = now
            if run.first is None and out_size > 0:  # click flushes each line
                run.first = now
            if out_size > seen_out:
                run.last, seen_out = now, out_size
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        run.wall = time.perf_counter() - start
        run.cpu = usage.ru_utime + usage.ru_stime  # includes every reaped descendant (the workers)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    run.main_rss = peaks.get(proc.pid, usage.ru_maxrss / 1024)
    run.worker_rss = sorted(peaks[w] for w in workers)
    run.ok = count_ok(stdout)
    if proc.returncode != 0 and not run.ok:
        raise SystemExit(f"{name} failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    return run


def _head(file, size: int = 4096) -> bytes:
    """The first ``size`` bytes of ``file``, read without moving the offset the child writes at."""
    return os.pread(file.fileno(), size, 0)


def _json_lines(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if line.startswith("{"))


def _json_list(stdout: str) -> int:
    start = stdout.find("[")
    return len(json.loads(stdout[start:])) if start >= 0 else 0


def emomucs(files: list[Path], jobs: int) -> list[str]:
    return [sys.executable, "-m", "emomucs_core.cli", "predict", "--json", "--jobs", str(jobs), *map(str, files)]


def vibenet(files: list[Path]) -> list[str]:
    return [sys.executable, "-m", "vibenet.cli", "-f", "json", "-q", *map(str, files)]


def write_long_song(path: Path, minutes: int) -> Path:
    """A generated song of ``minutes`` minutes (FLAC), written one minute at a time."""
    import soundfile as sf

    from emomucs_core.testing import synth_music

    with sf.SoundFile(str(path), "w", samplerate=44100, channels=2) as out:
        for minute in range(minutes):
            out.write(synth_music(60, 44100, seed=minute % 7))
    return path


def _speedup(fast: Run, slow: Run) -> str:
    """How many times ``fast``'s throughput is ``slow``'s: over whole runs, and after the first result
    when both have one."""
    text = f"{slow.wall / fast.wall:.2f}x whole runs"
    if fast.steady and slow.steady:
        text += f", {fast.steady / slow.steady:.2f}x after the first result"
    return text


def join_clips(clips: list[Path], folder: Path, tracks: int, minutes: float) -> list[Path]:
    """``tracks`` FLAC files of ``minutes`` minutes each (44.1 kHz stereo), consecutive ``clips`` joined end to end."""
    import numpy as np
    import soundfile as sf

    from emomucs_core.audio import AudioFile

    out, pending = [], iter(clips)
    for n in range(tracks):
        parts, seconds = [], 0.0
        while seconds < minutes * 60:
            with AudioFile(next(pending)) as audio:
                parts.append(audio.read(0.0, audio.duration, 44100).T)
                seconds += audio.duration
        path = folder / f"track-{n:02d}.flac"
        sf.write(str(path), np.concatenate(parts)[: int(minutes * 60 * 44100)], 44100)
        out.append(path)
    return out


def print_stages(data: Path, every: int, label: str) -> None:
    """``bench_stages.py``'s table for every ``every``-th file of ``data``, in a process of its own."""
    script = Path(__file__).with_name("bench_stages.py")
    out = subprocess.run([sys.executable, str(script), "--data", str(data), "--every", str(every), "--label", label],
                         capture_output=True, text=True, check=True)
    print(out.stdout, flush=True)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}; load average {load}"


def print_header() -> None:
    print("| run | tracks ok | wall s | s per track | first line on stderr s | model loaded s | first result s "
          "| tracks/s after the first | cores used | peak RSS main MiB | peak RSS per worker MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)


def print_row(r: Run) -> Run:
    said, loaded, first = (f"{t:.1f}" if t is not None else "-" for t in (r.said, r.loaded, r.first))
    steady = f"{r.steady:.2f}" if r.steady else "-"
    workers = ", ".join(f"{m:.0f}" for m in r.worker_rss) or "-"
    print(f"| {r.name} | {r.ok}/{r.tracks} | {r.wall:.1f} | {r.per_track:.2f} | {said} | {loaded} | {first} | "
          f"{steady} | {r.cpu / r.wall:.2f} | {r.main_rss:.0f} | {workers} |", flush=True)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/4q-dev",
                        help="folder of audio files, searched recursively")
    parser.add_argument("--every", type=int, default=10, help="take every n-th file (sorted by path)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="emomucs workers of the parallel run")
    parser.add_argument("--long-minutes", type=int, default=60, help="length of the long generated file")
    parser.add_argument("--full-tracks", type=int, default=8, help="also run both tools on this many full-length tracks")
    parser.add_argument("--full-minutes", type=float, default=4.0, help="length of each full-length track")
    args = parser.parse_args()

    files = collect_inputs([args.data])[:: args.every] if args.data.is_dir() else []
    if not files:
        print(f"skipped: no audio files under {args.data} (set DATA4Q=folder for make bench)")
        return
    has_vibenet = importlib.util.find_spec("vibenet") is not None
    print(f"machine: {machine()}")
    print(f"files: {len(files)} (every {args.every}th of {args.data})")

    subprocess.run(emomucs(files[:2], 2), capture_output=True, check=True)  # warm-up, untimed
    if has_vibenet:
        subprocess.run(vibenet(files[:2]), capture_output=True, check=True)
    print()
    print_header()
    parallel = print_row(measure(f"emomucs, {args.jobs} workers", emomucs(files, args.jobs), len(files), _json_lines))
    single = print_row(measure("emomucs, 1 process", emomucs(files, 1), len(files), _json_lines))
    one_core = None
    if hasattr(os, "sched_setaffinity"):
        core = {min(os.sched_getaffinity(0))}
        one_core = print_row(measure("emomucs, 1 process on 1 core", emomucs(files, 1), len(files), _json_lines, core))
    other = print_row(measure("VibeNet 0.1 (defaults)", vibenet(files), len(files), _json_list)) if has_vibenet \
        else None
    print_row(measure("emomucs, one 30-s file", emomucs(files[:1], 1), 1, _json_lines))
    with tempfile.TemporaryDirectory() as tmp:

        def one_long_file(minutes: int) -> Run:
            song = write_long_song(Path(tmp) / f"song-{minutes}min.flac", minutes)
            return print_row(measure(f"emomucs, one {minutes}-min file", emomucs([song], 1), 1, _json_lines))

        short, long = one_long_file(5), one_long_file(args.long_minutes)
        full = []
        if args.full_tracks:
            (Path(tmp) / "full").mkdir()
            tracks = join_clips(collect_inputs([args.data]), Path(tmp) / "full", args.full_tracks, args.full_minutes)
            full = [print_row(measure(f"emomucs, {args.jobs} workers, {len(tracks)} full-length tracks",
                                      emomucs(tracks, args.jobs), len(tracks), _json_lines))]
            if has_vibenet:
                full.append(print_row(measure(f"VibeNet 0.1, {len(tracks)} full-length tracks", vibenet(tracks),
                                              len(tracks), _json_list)))
        print()
        print_stages(args.data, args.every, "clips")
        if args.full_tracks:
            print_stages(Path(tmp) / "full", 1, f"full-length {args.full_minutes:g}-minute tracks")
    print()
    print(f"throughput, {args.jobs} workers vs 1 process: {_speedup(parallel, single)}")
    if one_core is not None:
        print(f"throughput, {args.jobs} workers on {args.jobs} cores vs 1 process on 1 core: "
              f"{_speedup(parallel, one_core)}")
    if parallel.loaded is not None and parallel.first is not None:
        print(f"first result {parallel.first - parallel.loaded:.1f} s after the model was loaded ({args.jobs} workers)")
    if other:
        ratio = parallel.per_track / other.per_track
        print(f"emomucs ({args.jobs} workers) s per track / VibeNet s per track: {ratio:.2f}")
    else:
        print("VibeNet not installed: pip install -e '.[bench]'")
    if len(full) == 2:
        print(f"full-length tracks: emomucs ({args.jobs} workers) s per track / VibeNet s per track: "
              f"{full[0].per_track / full[1].per_track:.2f}")
    print(f"peak RSS, {args.long_minutes}-min file vs 5-min file: {long.main_rss:.0f} vs {short.main_rss:.0f} MiB")
    print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()
