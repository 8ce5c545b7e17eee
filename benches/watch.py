"""Latency of `newsletter preview --watch` (called by benches/watch.sh; see it for the settings).

Starts the live preview of the MoU issue with a generated subscriber list, then saves the issue
RUNS times and measures, for each save, the time from the write to (a) /status.json answering
the new version (polled every 2 ms) and (b) the server-sent `version` event arriving. Also
measures the time from the start of the process to the page answering, and to the first page
being ready (/email.html answered 200: the first build, subscriber list included, is done).
"""

import http.client
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

binary, repo, work, rows, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

shutil.copytree(os.path.join(repo, "newsletters"), os.path.join(work, "newsletters"))
issue = os.path.join(work, "newsletters", "2019-06-uk-sg-mou.yaml")
subscribers = os.path.join(work, "subscribers.csv")
names = ["Zoë Martin", "李明", "Seán O'Brien", "Ana Souza", "Kofi Mensah"]
with open(subscribers, "w", encoding="utf-8") as out:
    out.write("email,name,status,organisation\n")
    for row in range(rows):
        out.write(f"person{row}@example.org,{names[row % 5]} {row},subscribed,{'GDS' if row % 3 else ''}\n")

env = {"PATH": os.environ["PATH"], "HOME": work}
started = time.monotonic()
process = subprocess.Popen(
    [binary, "preview", issue, "--watch", "--listen", "127.0.0.1:0", "--subscribers", subscribers],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=work,
)
try:
    line = process.stdout.readline().decode()
    host, port = line.split("http://")[1].split("/")[0].rsplit(":", 1)
    port = int(port)

    def get(path):
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.status, body

    while get("/")[0] != 200:
        time.sleep(0.005)
    page_answers = time.monotonic() - started
    while get("/email.html")[0] != 200:
        time.sleep(0.005)
    first_page = time.monotonic() - started

    events = queue.Queue()

    def listen():
        stream = socket.create_connection((host, port))
        stream.sendall(f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        seen = b""
        while True:
            chunk = stream.recv(4096)
            if not chunk:
                return
            now = time.monotonic()
            seen += chunk
            while b"event: version\ndata: " in seen:
                at = seen.index(b"event: version\ndata: ") + len(b"event: version\ndata: ")
                end = seen.find(b"\n", at)
                if end < 0:
                    break
                events.put((int(seen[at:end]), now))
                seen = seen[end:]

    threading.Thread(target=listen, daemon=True).start()
    events.get(timeout=10)  # the version on connecting

    def version():
        return json.loads(get("/status.json")[1])["version"]

    original = open(issue, encoding="utf-8").read()
    to_status, to_event = [], []
    for run in range(runs):
        before = version()
        text = original.replace("SIN SG facilitates new UK–SG MoU", f"Save {run} of the MoU")
        written = time.monotonic()
        with open(issue, "w", encoding="utf-8") as out:
            out.write(text)
        while version() <= before:
            time.sleep(0.002)
        to_status.append(time.monotonic() - written)
        while True:
            number, arrived = events.get(timeout=10)
            if number > before:
                to_event.append(arrived - written)
                break
        status = json.loads(get("/status.json")[1])
        assert not status["errors"], status["errors"]
        assert f"Save {run} of the MoU".encode() in get("/email.html")[1]
        time.sleep(0.1)
        while not events.empty():
            events.get()

    def p95(values):
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]

    def row(label, values, target):
        ms = [value * 1000 for value in values]
        verdict = "met" if p95(ms) <= target else "NOT MET"
        print(f"| {label} | {statistics.median(ms):.0f} | {p95(ms):.0f} | {max(ms):.0f} | ≤ {target} ms p95: {verdict} |")

    print(f"live preview, MoU issue, {rows:,} subscribers, {runs} saves")
    print("| measure | median ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|")
    row("write → new version in /status.json", to_status, 100)
    row("write → server-sent event", to_event, 100)
    verdict = "met" if first_page <= 1 else "NOT MET"
    searches = []
    for attempt in range(10):
        begun = time.monotonic()
        status_code, body = get(f"/subscribers.json?q=person{rows - 1 - attempt}%40")
        searches.append(time.monotonic() - begun)
        assert status_code == 200 and json.loads(body)["found"], body
    row("subscriber search, last rows of the list (10 searches)", searches, 100)
    with open(f"/proc/{process.pid}/status") as proc:
        peak = next(line.split()[1] for line in proc if line.startswith("VmHWM"))
    print(f"| peak memory (VmHWM) | {int(peak) // 1024} MB | | | |")
    print(f"| start → the page answers | {page_answers * 1000:.0f} | | | |")
    print(f"| start → first page ready (the email rendered) | {first_page * 1000:.0f} | | | ≤ 1000 ms: {verdict} |")
finally:
    process.kill()
    process.wait()
