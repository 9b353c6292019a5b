"""The line protocol the peers' drivers share with bench/peers.mjs, so Node can sample each system's
memory at the right moments: a driver prints one JSON object per line on stdout; at {"phase": "idle"} it
waits for a line on stdin before going on (Node samples the idle process tree meanwhile)."""
import json
import sys


def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def idle():
    say(phase="idle")
    sys.stdin.readline()


def ms(seconds):
    return seconds * 1000.0
