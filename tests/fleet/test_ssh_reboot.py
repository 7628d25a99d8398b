"""SSH reboot against a real OpenSSH server this test starts on a local port (its own host key and config)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models.chargers import Charger
from app.models.fleet import SshHost, SshJob
from app.models.people import ActivityLog
from tests.chargers.conftest import wait_for

SSHD = "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="openssh-server is installed by make (scripts/services.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A private sshd on 127.0.0.1:<port> accepting root with the test's user key only."""
    tmp = tmp_path_factory.mktemp("sshd")
    host_pub = _keygen(tmp / "host_key")
    user_pub = _keygen(tmp / "user_key")
    (tmp / "authorized_keys").write_text(user_pub + "\n")
    port = _free_port()
    (tmp / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {tmp / 'host_key'}",
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}", f"PidFile {tmp / 'sshd.pid'}",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "StrictModes no", "UsePAM no", "LogLevel VERBOSE",
    ]) + "\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation directory sshd insists on
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "sshd.log", "wb"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    other_pub = _keygen(tmp / "other_host_key")
    wrong_user = tmp / "wrong_user_key"
    _keygen(wrong_user)
    yield {"port": port, "host_key": host_pub, "other_host_key": other_pub, "user_key": tmp / "user_key",
           "wrong_user_key": wrong_user, "tmp": tmp}
    proc.terminate()
    proc.wait(10)


def _setup(session, sshd, *, host_key=None, key=None, command="echo rebooting; exit 0"):
    charger = Charger(cid="SSH-1", name="Site controller charger", type="L3", site="Galle Road")
    session.add(charger)
    session.flush()
    session.add(SshHost(name="galle-controller", site="Galle Road", host="127.0.0.1", port=sshd["port"],
                        username="root", host_key=host_key or sshd["host_key"],
                        key_secret=f"file:{key or sshd['user_key']}", reboot_command=command, timeout_s=20))
    session.commit()


def _run(api, session):
    response = api.post("/api/v1/chargers/SSH-1/ssh-reboot")
    assert response.status_code == 202, response.json
    job_id = response.json["job_id"]
    assert wait_for(session, lambda: session.scalar(select(SshJob.status).where(SshJob.job_id == job_id))
                    in ("Succeeded", "Failed"), timeout=60)
    return api.get(f"/api/v1/ssh-jobs/{job_id}").json


def test_reboot_runs_the_hosts_command_and_stores_its_output(session, api_as, celery_worker, sshd):
    _setup(session, sshd)
    job = _run(api_as("cpo"), session)
    assert job["status"] == "Succeeded" and job["exit_code"] == 0 and job["output"].strip() == "rebooting"
    audit = [a.description for a in session.scalars(select(ActivityLog).where(ActivityLog.kind == "ssh_reboot"))]
    assert any("requested" in a for a in audit) and any("Succeeded" in a for a in audit)


def test_a_changed_host_key_is_refused_and_nothing_runs(session, api_as, celery_worker, sshd):
    marker = sshd["tmp"] / "ran"
    _setup(session, sshd, host_key=sshd["other_host_key"], command=f"touch {marker}; echo rebooting")
    job = _run(api_as("admin"), session)
    assert job["status"] == "Failed" and "host key mismatch" in job["error"] and job["exit_code"] is None
    assert not marker.exists()


def test_a_wrong_user_key_fails_cleanly(session, api_as, celery_worker, sshd):
    _setup(session, sshd, key=sshd["wrong_user_key"])
    job = _run(api_as("cpo"), session)
    assert job["status"] == "Failed" and "authentication failed" in job["error"] and job["output"] is None


def test_only_cpo_and_admin_may_reboot_and_the_key_is_never_stored(session, api_as, sshd):
    _setup(session, sshd)
    for user in ("manager", "dispatcher", "agent", "installer"):
        assert api_as(user).post("/api/v1/chargers/SSH-1/ssh-reboot").status_code == 403, user
    cpo = api_as("cpo")
    charger_id = session.scalar(select(Charger.id).where(Charger.cid == "SSH-1"))
    base = {"name": "x", "charger": charger_id, "host": "10.0.0.5", "port": 22, "username": "root",
            "host_key": sshd["host_key"], "reboot_command": "reboot", "timeout_s": 10}
    pasted = cpo.post("/api/v1/ssh-hosts/", json={**base, "key_secret": sshd["user_key"].read_text()})
    assert pasted.status_code == 400  # a whole key is refused, whatever the reason given
    pasted = cpo.post("/api/v1/ssh-hosts/", json={**base, "key_secret": "-----BEGIN OPENSSH PRIVATE KEY----- b3Blbn"})
    assert pasted.status_code == 400 and "never the key itself" in pasted.json["message"]
    inside = cpo.post("/api/v1/ssh-hosts/", json={**base, "key_secret": f"file:{Path(__file__).resolve()}"})
    assert inside.status_code == 400 and "outside" in inside.json["message"]
    bad_pin = cpo.post("/api/v1/ssh-hosts/", json={**base, "key_secret": "env:SITE_KEY", "host_key": "nope"})
    assert bad_pin.status_code == 400
    ok = cpo.post("/api/v1/ssh-hosts/", json={**base, "key_secret": "env:SITE_KEY"})
    assert ok.status_code == 201, ok.json
    assert not session.scalar(select(SshHost).where(SshHost.key_secret.contains("PRIVATE KEY")))


def test_a_second_reboot_waits_for_the_first(session, api_as, sshd):
    _setup(session, sshd)
    cpo = api_as("cpo")
    assert cpo.post("/api/v1/chargers/SSH-1/ssh-reboot").status_code == 202
    assert cpo.post("/api/v1/chargers/SSH-1/ssh-reboot").status_code == 409


@pytest.fixture(autouse=True)
def _no_stray_marker(sshd):
    yield
    shutil.rmtree(sshd["tmp"] / "ran", ignore_errors=True)
