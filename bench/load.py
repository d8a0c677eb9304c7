"""Load test on loopback: walls, commanders and leaders against ``cityops serve --workers N``
(gunicorn) with PostgreSQL and Redis while ``cityops simulate`` writes.

    .venv/bin/python bench/load.py --sessions 10,50,200 --duration 60 [--workers 4] [--scale city] [--json out.json]

Starts and stops everything itself, in a bounded time (≈ 1 min of set-up, then per phase its
duration + ramp + at most 65 s of draining; the first run also builds the demo city into the
database ``cityops_bench_load_SCALE`` on CITYOPS_BENCH_PG_URL, 2–4 min at city scale, reused
afterwards while younger than --max-age-hours):

1. a private ``redis-server`` on a free port (``tests/services.PrivateRedis``: the machine's Redis
   is shared with other test runs, whose events would reach our streams);
2. users made with the real command line: ``cityops users add`` (commanders and leaders with
   passwords from standard input) and wall devices with ``cityops users token NAME --wall default``;
3. ``cityops serve --workers N`` on a free port, ``CITYOPS_WEB_THREADS`` sized so that every
   session's event stream gets a thread (each holds one) plus the 8 kept for pages;
4. ``cityops simulate --rate R`` writing incidents, their lifecycle and readings all along;
5. for each session count, ``app.loadtest.run_phase``: sessions start over a ramp (0.1 s per
   session, at most a third of the phase: every one of them logs in, and a password check is
   deliberately expensive), run for ``--duration`` seconds, then stop; the table gives
   throughput, p50/p95/p99 per action, errors, event-stream figures, and where the CPU went
   (/proc: the server's gunicorn master and workers, the PostgreSQL backends of its database,
   ``cityops simulate``, this load generator, and everything else on the machine) beside the load
   average, since other work on a shared machine shows in the tail.

Prints a table per phase and writes JSON with ``--json``. Asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from app.loadtest import Credentials, format_load_table, run_phase, session_mix  # noqa: E402
from tests.services import PrivateRedis, free_port  # noqa: E402

PG_ADMIN_URL = os.environ.get("CITYOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "load-test-Passw0rd"
PAGE_THREADS = 8  # app/live.py keeps this many threads of a worker for pages


def cityops(env: dict, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO_ROOT, env=env, input=stdin, capture_output=True, text=True, check=check)


def prepare_database(scale: str, max_age_hours: float, say) -> str:
    from app.bench import bench_database_url, prepare_demo
    from queries.db import make_engine

    url = bench_database_url("postgres", f"load_{scale}", Path(tempfile.gettempdir()), PG_ADMIN_URL)
    engine = make_engine(url)
    try:
        figures = prepare_demo(engine, scale, say, max_age=dt.timedelta(hours=max_age_hours))
    finally:
        engine.dispose()
    if not figures.get("demo_build_reused"):
        say(f"  built in {figures.get('demo_build_s')} s")
    return url


def make_users(env: dict, walls: int, commanders: int, leaders: int) -> Credentials:
    """Users through the real CLI (idempotent: an existing one gets its password set again)."""

    def person(name: str, role: str) -> tuple[str, str]:
        done = cityops(env, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n", check=False)
        if done.returncode != 0:
            cityops(env, "users", "enable", name, check=False)
            cityops(env, "users", "passwd", name, "--password-stdin", stdin=PASSWORD + "\n")
        return name, PASSWORD

    def device(name: str) -> str:
        cityops(env, "users", "add", name, "--role", "wall", check=False)
        cityops(env, "users", "enable", name, check=False)
        lines = cityops(env, "users", "token", name, "--wall", "default").stdout.splitlines()
        return next(line.strip() for line in lines if line.startswith("/wall/"))

    return Credentials(
        walls=[device(f"load-wall-{i}") for i in range(1, walls + 1)],
        commanders=[person(f"load-commander-{i}", "commander") for i in range(1, commanders + 1)],
        leaders=[person(f"load-leader-{i}", "leader") for i in range(1, leaders + 1)],
    )


# --- /proc: the server's CPU ------------------------------------------------------------------------


def _children(root: int) -> list[int]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                table[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in table.items():
            if ppid == parent:
                found.append(pid)
                frontier.append(pid)
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, /proc/stat), to compare the server's with."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def database_pids(name: str) -> list[int]:
    """PostgreSQL backends serving the database ``name`` (their process title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f" {name} " in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


class Server:
    def __init__(self, env: dict, workers: int, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
                                        cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() - started > 300:
                raise SystemExit(f"server did not start; see {log_path}")
            time.sleep(0.5)
        self.startup_s = round(time.monotonic() - started, 1)

    def pids(self) -> list[int]:
        return [self.process.pid, *_children(self.process.pid)]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def problems(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if "Traceback" in line or " ERROR " in line or "[CRITICAL]" in line or "WORKER TIMEOUT" in line]


# --- py-spy: where the server's CPU went ------------------------------------------------------------

OWN_PACKAGES = ("app/", "layers/", "queries/")


def start_profilers(pids: list[int], folder: Path, seconds: float) -> list[tuple[subprocess.Popen, Path]]:
    """``py-spy record`` (non-blocking: the server is not paused per sample) on every server
    process for the phase; collapsed stacks, one file per process."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    started = []
    for pid in pids:
        output = folder / f"{pid}.txt"
        started.append((subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "50", "--nonblocking",
                                          "--format", "raw", "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), output))
    return started


def finish_profilers(profilers: list[tuple[subprocess.Popen, Path]]) -> dict:
    """Stop the samplers; per own function (module:function), the share of busy samples whose
    stack passes through it (inclusive) — where the server's CPU went."""
    for process, _ in profilers:
        process.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
    for process, _ in profilers:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return profile_of([output for _, output in profilers if output.exists()])


def profile_of(files: list[Path]) -> dict:
    """Per own function (path:function), the share of busy samples whose stack passes through it."""
    inclusive: dict[str, int] = {}
    total = 0
    for output in files:
        for line in output.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit() or "(idle)" in stack:
                continue
            total += int(count)
            own = {name for name in map(own_frame, stack.split(";")) if name}
            for name in own:
                inclusive[name] = inclusive.get(name, 0) + int(count)
    top = sorted(inclusive.items(), key=lambda item: -item[1])[:25]
    return {"busy_samples": total, "folder": str(files[0].parent) if files else None,
            "inclusive_share": {name: round(count / total, 3) for name, count in top} if total else {}}


def own_frame(frame: str) -> str | None:
    """``app/briefing/page.py:render_briefing`` for a py-spy frame ``render_briefing (/…/app/briefing/page.py:70)``
    of this repository's code; None for the standard library's and installed packages'."""
    function, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    if path.startswith(f"{REPO_ROOT}/"):  # py-spy names files by sys.path entry: ours relative, others' too (gunicorn/app/…)
        path = path[len(str(REPO_ROOT)) + 1:]
    return f"{path}:{function}" if path.startswith(OWN_PACKAGES) else None


def format_profile(profile: dict) -> str:
    lines = [f"  where the server's CPU went ({profile['busy_samples']} busy samples at 50/s, stacks in {profile['folder']}):"]
    lines += [f"    {share * 100:5.1f} %  {name}" for name, share in profile["inclusive_share"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="10,50,200", help="comma-separated concurrent session counts, one phase each")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="gunicorn workers (default: twice the cores, as docs/deploy.md recommends)")
    parser.add_argument("--threads", type=int, default=None, help="CITYOPS_WEB_THREADS (default: enough for every event stream of the largest phase)")
    parser.add_argument("--scale", choices=("small", "city", "large"), default="city")
    parser.add_argument("--rate", type=float, default=6.0, help="cityops simulate: new incidents per minute")
    parser.add_argument("--max-age-hours", type=float, default=12.0, help="rebuild the demo city when older (its 24 h windows empty out)")
    parser.add_argument("--no-assets", action="store_true", help="sessions do not fetch the pages' scripts (a warm browser cache)")
    parser.add_argument("--mix", default=None, help="fixed sessions of each kind instead of the default mix, e.g. wall=1,commander=5,leader=4")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample the server's processes with py-spy through each phase (pip install py-spy): collapsed stacks in this folder, "
                             "and the functions of app/, layers/ and queries/ that held the CPU printed per phase")
    args = parser.parse_args()
    if args.profile and not shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"):
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    mix = {kind: int(count) for kind, _, count in (part.partition("=") for part in args.mix.split(","))} if args.mix else None
    counts = [int(value) for value in args.sessions.split(",") if value.strip()]
    say = lambda text: print(text, flush=True)  # noqa: E731

    began = time.monotonic()
    say(f"[load] database cityops_bench_load_{args.scale} (PostgreSQL), scale {args.scale}")
    database_url = prepare_database(args.scale, args.max_age_hours, say)
    biggest = max(session_mix(count)["wall"] + session_mix(count)["commander"] for count in counts)
    threads = args.threads or max(32, -(-biggest // args.workers) + PAGE_THREADS + 8)
    workdir = Path(tempfile.mkdtemp(prefix="cityops-load-"))
    results: dict = {"started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "scale": args.scale, "workers": args.workers,
                     "web_threads": threads, "simulate_rate_per_min": args.rate, "duration_s": args.duration, "assets": not args.no_assets,
                     "cpus": os.cpu_count(), "phases": []}
    with PrivateRedis() as redis_server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
        env.update(CITYOPS_DATA_DIR=str(workdir), CITYOPS_DATABASE_URL=database_url, CITYOPS_REDIS_URL=redis_server.url,
                   CITYOPS_SECRET_KEY="load-test", CITYOPS_WEB_THREADS=str(threads), PYTHONUNBUFFERED="1")
        say("[load] users through `cityops users`…")
        credentials = make_users(env, walls=2, commanders=4, leaders=4)
        say(f"[load] cityops serve --workers {args.workers} (CITYOPS_WEB_THREADS={threads}), Redis {redis_server.url}")
        server = Server(env, args.workers, workdir / "server.log")
        results["server_startup_s"] = server.startup_s
        total = sum(args.duration + 70 for _ in counts) + 30
        simulate = subprocess.Popen([sys.executable, "-m", "app.cli", "simulate", "--rate", str(args.rate), "--duration", str(total)],
                                    cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(3)
            database = database_url.rsplit("/", 1)[1]
            for count in counts:
                pids = server.pids()
                pg_before = {pid: cpu_seconds([pid]) for pid in database_pids(database)}
                before = {"server": cpu_seconds(pids), "postgres": 0.0, "simulate": cpu_seconds([simulate.pid]), "client": own_cpu_seconds(),
                          "machine": machine_busy_seconds()}
                load_before, clock = os.getloadavg()[0], time.monotonic()
                say(f"[load] {count} sessions for {args.duration:.0f} s…")
                profilers = start_profilers(pids, args.profile / f"phase-{count}", args.duration + 20) if args.profile else []
                phase = asyncio.run(run_phase(server.base, count, args.duration, credentials, seed=count, fetch_assets=not args.no_assets,
                                             ramp=min(args.duration / 3, count * 0.1),
                                             mix={"wall": 0, "commander": 0, "leader": 0, **mix} if mix else None))
                elapsed = time.monotonic() - clock
                pids = server.pids()
                pg_used = sum(cpu_seconds([pid]) - pg_before.get(pid, 0.0) for pid in database_pids(database))  # backends that ended are lost
                after = {"server": cpu_seconds(pids), "postgres": pg_used, "simulate": cpu_seconds([simulate.pid]), "client": own_cpu_seconds(),
                         "machine": machine_busy_seconds()}
                cores = {name: round((after[name] - before[name]) / elapsed, 2) for name in before}
                cores["everything else"] = round(cores["machine"] - cores["server"] - cores["postgres"] - cores["simulate"] - cores["client"], 2)
                phase["cores_busy"] = cores  # CPU seconds per second of the phase, per consumer (the machine has os.cpu_count())
                phase["server"] = {"rss_mb": rss_mb(pids), "processes": len(pids)}
                phase["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                if profilers:
                    phase["profile"] = finish_profilers(profilers)
                results["phases"].append(phase)
                say(format_load_table([phase]))
                if profilers:
                    say(format_profile(phase["profile"]))
                say("  cores busy: " + ", ".join(f"{name} {value}" for name, value in cores.items()) + f" (of {os.cpu_count()}); server RSS "
                    f"{phase['server']['rss_mb']} MB; load average {phase['load_average_1m'][0]} → {phase['load_average_1m'][1]}")
                time.sleep(5)
        finally:
            simulate.send_signal(signal.SIGTERM)
            try:
                output, _ = simulate.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                simulate.kill()
                output, _ = simulate.communicate()
            server.stop()
        results["simulate"] = output.strip().splitlines()[-6:]
        results["server_log_problems"] = server.problems()[:20]
    results["total_s"] = round(time.monotonic() - began, 1)
    say(f"\n[load] simulate: {' | '.join(results['simulate'])}")
    say(f"[load] server log: {len(results['server_log_problems'])} error lines" + "".join(f"\n  {line}" for line in results["server_log_problems"][:5]))
    say(f"[load] done in {results['total_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2))
        say(f"written to {args.json}")


if __name__ == "__main__":
    main()
