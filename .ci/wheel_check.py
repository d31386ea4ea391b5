"""CI: build the sdist and the wheel, install the wheel in a fresh virtualenv outside the
repository, and serve the own-app example of the docs from it, as a new user would.

It fails if the wheel misses package data (the dashboard's templates, script and style), if
it carries the example app, if the app ignores ``QUART_TASKS_DATABASE`` or does not name its
store at startup, or if ``quart --app … tasks list`` does not work in it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.readme_examples import write_own_app  # noqa: E402


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    print("+", " ".join(str(part) for part in command), flush=True)
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="wheel-check-"))
    try:
        check(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check(work: Path) -> None:
    run(sys.executable, "-m", "build", "--outdir", work / "dist", ROOT)  # sdist, then wheel
    wheel = next((work / "dist").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("tasks/web/static/dashboard.js", "tasks/web/templates/tasks/dashboard.html"):
        if needed not in names:
            sys.exit(f"{wheel.name} lacks {needed}")
    if any(name.startswith("quart_app/") for name in names):
        sys.exit(f"{wheel.name} carries the example app")

    venv.create(work / "venv", with_pip=True)
    bin_dir = work / "venv" / "bin"
    run(bin_dir / "pip", "install", "-q", wheel)
    app = write_own_app(work / "app")
    store = app / "from-env.sqlite3"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(work)),
        "QUART_TASKS_DATABASE": str(store),
    }
    port = free_port()
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [bin_dir / "hypercorn", "--bind", f"127.0.0.1:{port}", "myapp:create_app()"],
        cwd=app,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        check_server(f"http://127.0.0.1:{port}", work / "server.log", store)
        listed = run(
            bin_dir / "quart", "--app", "myapp:create_app()", "tasks", "list", cwd=app, env=env
        )
        if "send_report" not in listed:
            sys.exit(f"`tasks list` did not list the task:\n{listed}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"the wheel {wheel.name} serves an own app, its dashboard and its commands")


def check_server(url: str, log: Path, store: Path) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(200):
            try:
                if client.get("/jobs/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            sys.exit(f"the server did not start:\n{log.read_text()}")
        task_id = client.post("/reports/3").json()["id"]
        page = client.get("/jobs/")
        assets = re.findall(r'(?:src|href)="(/jobs/static/[^"?]+)', page.text)
        if page.status_code != 200 or len(assets) < 2:
            sys.exit(f"the dashboard is missing its script or style: {page.status_code}")
        for asset in assets:
            if client.get(asset).status_code != 200:
                sys.exit(f"{asset} is missing from the installed package")
        for _ in range(200):
            if client.get(f"/reports/status/{task_id}").json()["state"] == "succeeded":
                break
            time.sleep(0.05)
        else:
            sys.exit("the task did not succeed")
    if not store.exists() or f"store {store}" not in log.read_text():
        sys.exit(f"the app did not use QUART_TASKS_DATABASE, or said nothing:\n{log.read_text()}")


if __name__ == "__main__":
    main()
