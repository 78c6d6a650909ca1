#!/usr/bin/env python3
"""Runs a server for a test and stops it (SIGTERM, then SIGKILL) when the test closes our
standard input, or dies: the servers of the remote tests (PostgreSQL, the registry, BuildGrid)
never outlive the test process. Usage: guard.py PROGRAM ARGS..."""

import os
import signal
import subprocess
import sys
import threading

# The server's stderr joins its stdout: the test reads one stream for its readiness line.
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def stop_when_stdin_closes():
    sys.stdin.buffer.read()
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
    os._exit(0)


threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
sys.exit(child.wait())
