"""A refused login names the setting to fix; ``sync --until-empty`` stops with exit status 4
instead of looping on "Not authorized"; ``doctor`` logs in with the device's credentials.
Real mosquitto with the password file and the shipped ACL."""

import os
import subprocess
import time

from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import ROOT, env_with_passwords, make_device, worker_cmd


def _sync(store, port, env):
    t = time.monotonic()
    out = subprocess.run(worker_cmd(store, port, timeout=60), env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=90)
    return out, time.monotonic() - t


def test_a_wrong_or_missing_password_stops_until_empty_and_names_the_variable(tmp_path, broker):
    store, _ = make_device(tmp_path, 1, size=10_000)
    env = env_with_passwords()
    env["SYNC_TEST_PW_DEV_A"] = "wrong"
    out, took = _sync(store, broker.port, env)
    assert out.returncode == 4, out.stderr[-2000:]
    assert took < 30                                   # not a minute of "Not authorized"
    assert "refused the connection" in out.stderr
    assert "the environment variable SYNC_TEST_PW_DEV_A (is set; [broker] password_env" in \
        out.stderr
    assert out.stderr.count("refused the connection") <= 2
    del env["SYNC_TEST_PW_DEV_A"]
    out, _ = _sync(store, broker.port, env)
    assert out.returncode == 4, out.stderr[-2000:]
    assert "the environment variable SYNC_TEST_PW_DEV_A (is NOT set" in out.stderr


def _profile(tmp_path, profile_path, port: int, env_var: str):
    p = profile_path
    p.write_text(p.read_text().replace("port = 1883", f"port = {port}")
                 .replace('username = "kiosk-0001"', 'username = "dev-a"')
                 .replace('password_env = "CLAIM_EDGE_BROKER_PASSWORD"',
                          f'password_env = "{env_var}"'))
    return p


def test_doctor_logs_in_with_the_device_credentials(tmp_path, cli, profile_path, broker):
    p = _profile(tmp_path, profile_path, broker.port, "DOCTOR_TEST_PW")
    env = dict(os.environ, DOCTOR_TEST_PW="pw-dev-a")
    r = cli("doctor", "--profile", str(p), env=env)
    line = next(x for x in r.stdout.splitlines() if x.split()[1] == "broker")
    assert line.split()[0] == "ok" and f"127.0.0.1:{broker.port} logged in as dev-a" in line
    env["DOCTOR_TEST_PW"] = "wrong"
    r = cli("doctor", "--profile", str(p), env=env)
    line = next(x for x in r.stdout.splitlines() if x.split()[1] == "broker")
    assert line.split()[0] == "FAIL" and "DOCTOR_TEST_PW" in line, line
    assert r.returncode == 1
