"""Look at Ray's dashboard during a search as a user would, and take the README's picture of the job's tasks.

Starts ``nas search`` (the cell space on scikit-learn's digits, 12 trials of up to 3 epochs, ASHA) in a temporary
directory with a home of its own; the search starts its own local Ray with the dashboard and token authentication
and prints how to log in. The script reads the token from the file that line names, exactly as a user pasting it
into the page's dialog would, and checks through the REST API that the job's tasks are the trials under their
names, with the stopping rule's calls named for the trial they judge. The page keeps a pasted token in a cookie
that a headless browser cannot be handed from outside, so Chromium looks at the dashboard through a small local
proxy that adds the same token as the REST header to each request; what the page shows is what a logged-in user
sees. Then it stops what it started, by process id: the search with SIGINT (it shuts down the Ray it started
itself). Nothing is written outside temporary directories except the PNG in docs/.

    python docs/ray_dashboard_screenshot.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
from dashboard_screenshot import recorded, stop, wait  # noqa: E402 - the other picture's helpers, beside this file


def proxy(target: str, token: str) -> http.server.ThreadingHTTPServer:
    """A local HTTP server that forwards every request to ``target`` (host:port) with the token as the header."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            self.forward("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.forward("POST")

        def forward(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Authorization"] = f"Bearer {token}"
            con = http.client.HTTPConnection(target, timeout=60)
            con.request(method, self.path, body=body, headers=headers)
            r = con.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            con.close()

        def log_message(self, format: str, *args) -> None:  # noqa: A002, ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def shoot(chromium: str, page: str, png: Path, profile: Path, home: Path) -> None:
    """Open ``page`` in headless Chromium, expand the job's task breakdown (a click on its progress bar, as a user
    would), and save a screenshot; driven over the DevTools protocol with aiohttp (which Ray brings)."""
    import aiohttp

    browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "HOME": str(home)})
    try:
        port_file = profile / "DevToolsActivePort"
        wait("Chromium's DevTools port", port_file.exists, 60)
        time.sleep(0.5)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as http_session:
            async with http_session.get(f"http://127.0.0.1:{port}/json/list") as r:
                target = next(t for t in await r.json() if t["type"] == "page")
            async with http_session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                ids = iter(range(1, 10**6))

                async def call(method: str, **params) -> dict:  # noqa: ANN003
                    n = next(ids)
                    await ws.send_json({"id": n, "method": method, "params": params})
                    async for msg in ws:
                        data = json.loads(msg.data)
                        if data.get("id") == n:
                            return data.get("result", {})
                    raise SystemExit("Chromium closed the connection")

                await call("Emulation.setDeviceMetricsOverride", width=1400, height=1250, deviceScaleFactor=1,
                           mobile=False)
                await call("Page.navigate", url=page)
                await asyncio.sleep(8)
                clicked = await call("Runtime.evaluate", returnByValue=True, expression="""(() => {
                    const bar = document.querySelector('[data-testid="progress-bar-segment"]');
                    if (!bar) return false;
                    let el = bar;
                    while (el && !el.onclick && el.parentElement && !el.getAttribute('role')) el = el.parentElement;
                    bar.click(); return true; })()""")
                if not clicked.get("result", {}).get("value"):
                    print("note: no task breakdown to expand on the page")
                await asyncio.sleep(4)
                shot = await call("Page.captureScreenshot", format="png")
                png.write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--after", type=int, default=6, help="trials recorded before the picture (default 6)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nas-ray-shot-"))
    home, run, log_path = tmp / "home", tmp / "run", tmp / "search.log"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    search = subprocess.Popen([sys.executable, "-m", "nas.app.cli", "search", "--space", "cell", "--budget", "60M",
                               "--dataset", "digits", "--epochs", "3", "--trials", "12", "--out", str(run)],
                              cwd=tmp, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        wait("the dashboard line", lambda: "REST API:" in log_path.read_text() or search.poll() is not None, 300)
        log = log_path.read_text()
        url = re.search(r"^dashboard: (http://\S+)", log, re.M)
        token_path = re.search(r"the contents of (\S+)\)", log)
        if not url or not token_path:
            raise SystemExit(f"the search printed no dashboard or token line:\n{log}")
        for line in log.splitlines():
            if line.startswith(("dashboard:", "  log in:", "  REST API:", "  metrics:")):
                print(line)
        token = Path(token_path.group(1)).read_text().strip()
        base = url.group(1)
        wait(f"{a.after} recorded trials", lambda: recorded(run) >= a.after or search.poll() is not None, 900)

        def get(path: str, auth: bool = True) -> dict:
            req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"} if auth else {})
            return json.loads(urllib.request.urlopen(req, timeout=30).read())

        try:
            get("/api/v0/tasks?limit=1", auth=False)
            raise SystemExit("the dashboard answered without the token")
        except urllib.error.HTTPError as e:
            print(f"without the token: HTTP {e.code}")
        tasks = get("/api/v0/tasks?limit=10000")["data"]["result"]["result"]
        trials = sorted({t["name"] for t in tasks if t["name"].startswith("trial ")})
        asks = sorted({t["name"] for t in tasks if t["name"].startswith("stopping rule: ")})
        others = sorted({t["name"] for t in tasks} - set(trials) - set(asks))
        print(f"{len(tasks)} tasks: {len(trials)} trials (e.g. {trials[:2]}), {len(asks)} stopping-rule calls "
              f"(e.g. {asks[:2]}), others: {others}")
        job = next(t["job_id"] for t in tasks if t["name"].startswith("trial "))
        metrics = re.search(r"^  metrics: .* at (http://\S+/metrics)", log, re.M)
        if metrics:
            text = urllib.request.urlopen(metrics.group(1), timeout=30).read().decode()
            print("metrics endpoint:", [l for l in text.splitlines() if l.startswith("ray_nas_trials_done")][:1])
        server = proxy(urllib.parse.urlparse(base).netloc, token)
        page = f"http://127.0.0.1:{server.server_port}/#/jobs/{job}"
        png = DOCS / "ray-dashboard-job.png"
        asyncio.run(shoot(a.chromium, page, png, tmp / "chromium", home))
        server.shutdown()
        print(f"wrote {png.relative_to(ROOT)} ({png.stat().st_size:,} bytes) from {page}")
    finally:
        stop(search)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
