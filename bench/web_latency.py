"""Loopback latency of the web app served in a thread (as `serve --web` does): GET show, POST advance over
HTTP with a bearer token, and the engine's own move, on a fresh SQLite database seeded as the web tests do.

    python bench/web_latency.py

A quick check, not the load test (locust, 100,000 cases) the issue asks for in bench/.
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import httpx
from tests.conftest import COMPLAINT, FakeClock
from tests.web.conftest import seeded_application
from engine.adapters.web.app import create_app
from engine.adapters.web.server import start_in_thread

tmp = Path(tempfile.mkdtemp())
app = seeded_application(f"sqlite:///{tmp/'t.db'}", FakeClock(), tmp)
srv = start_in_thread(create_app(app))
_, tok = app.credentials.create_token("rina")
c = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tok}"})
def ms(f, n):
    out = []
    for _ in range(n):
        t = time.perf_counter(); f(); out.append((time.perf_counter() - t) * 1000)
    out.sort(); return f"p50 {statistics.median(out):.1f} ms, p95 {out[int(len(out)*.95)]:.1f} ms"
nums = [app.commands.submit("rina", COMPLAINT).number for _ in range(400)]
print("GET show    ", ms(lambda: c.get(f"/api/v1/cases/{nums[0]}").raise_for_status(), 300))
it = iter(nums[:200])
print("POST advance", ms(lambda: c.post(f"/api/v1/cases/{next(it)}/advance", json={"trigger": "teruskan"}).raise_for_status(), 200))
it2 = iter(nums[200:400])
print("engine move ", ms(lambda: app.commands.advance(next(it2), "teruskan", "rina"), 200))
srv.stop(); app.close()
