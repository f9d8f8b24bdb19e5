"""deploy/kubernetes/mcpd.yaml (issue 6), checked without a cluster: the manifests parse, and the
Deployment's container is run here as written — its exact arguments (with its paths moved under a
temporary directory and its listener onto a free loopback port), its tokens-file mount, its
readiness probe path and its exec liveness probe — against a real mcpd.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import yaml

from conftest import MCPCTL, MCPD, clean_env, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "deploy" / "kubernetes" / "mcpd.yaml"


def documents() -> dict:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {d["kind"]: d for d in docs}


def test_manifests_parse_and_fit_together():
    docs = documents()
    assert set(docs) == {"ConfigMap", "Deployment", "Service"}, set(docs)
    deployment, service = docs["Deployment"], docs["Service"]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"] == pod["metadata"]["labels"] == service["spec"]["selector"]
    container = pod["spec"]["containers"][0]
    port_names = {p["name"] for p in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in port_names
    assert container["readinessProbe"]["httpGet"]["port"] in port_names
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert mounts == {v["name"] for v in pod["spec"]["volumes"]}, "every mount has a volume and back"
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"] and security["readOnlyRootFilesystem"]


def test_the_container_runs_as_written(tmp_path):
    docs = documents()
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    config_text = docs["ConfigMap"]["data"]["mcpd.config.json"]
    port = free_port()
    # The pod's file system, under tmp_path: each volume mount becomes a directory or file there.
    moved = {"/run/mcpd": tmp_path / "run", "/var/lib/mcpd": tmp_path / "state",
             "/etc/mcpd/tokens": tmp_path / "tokens", "/etc/mcpd/mcpd.config.json": tmp_path / "config.json"}
    for mount in container["volumeMounts"]:
        assert mount["mountPath"] in moved or mount["mountPath"] == "/tmp", f"unexpected mount {mount}"
    (tmp_path / "run").mkdir()
    (tmp_path / "tokens").write_text("ops k8s-token-5b1e owner\n")
    (tmp_path / "config.json").write_text(config_text)

    pod_name = "mcpd-7c9d8f6b5d-x2k4q"
    args = []
    for arg in container["args"]:
        flag, _, value = arg.partition("=")
        if flag == "--listen":
            assert value == "0.0.0.0:8000", arg
            value = f"127.0.0.1:{port}"
        value = value.replace("$(POD_NAME)", pod_name)
        for old, new in moved.items():
            if value == old:
                value = str(new)
        args.append(f"{flag}={value}")
    assert container["command"] == ["/usr/local/bin/mcpd"]
    proc = subprocess.Popen([str(MCPD), *args], env=clean_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        probe = container["readinessProbe"]["httpGet"]["path"]
        wait_until(lambda: proc.poll() is not None or _status(port, probe) == 200, timeout=20,
                   message="the readiness probe to pass")
        assert proc.poll() is None, f"mcpd exited {proc.returncode}: {proc.stderr.read()}"

        liveness = container["livenessProbe"]["exec"]["command"]
        assert liveness[0] == "/usr/local/bin/mcpctl"
        live = [str(MCPCTL), *[str(moved.get(a, a)) for a in liveness[1:]]]
        result = subprocess.run(live, capture_output=True, text=True, timeout=15, env=clean_env())
        assert result.returncode == 0, f"liveness probe failed: {result.stdout} {result.stderr}"

        # The tokens file is what authenticates; session ids carry the pod's name.
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/mcp", method="POST",
            data=b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
                 b'"capabilities":{},"clientInfo":{"name":"k8s-test","version":"1"}}}',
            headers={"Authorization": "Bearer k8s-token-5b1e", "Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Mcp-Session-Id"].startswith(pod_name + "."), response.headers
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert rc == 0, f"mcpd did not drain and exit 0 on SIGTERM: {rc}"


def _status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None
