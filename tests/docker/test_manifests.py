"""The deployment files (docker/compose.yaml, docker/k8s/) against the code they run.

No container runtime or cluster exists here, so these check what breaks a deployment
silently: a command the CLI does not have, an environment variable no code reads (a typo
is simply ignored by pydantic-settings), selectors that match no pod, a port name a probe
or Service cannot resolve, a ConfigMap or Secret the README never tells the operator to
create.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from sharpeye.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
K8S = DOCKER / "k8s"
CODE_DIRS = ("sharpeye", "camera", "ingest", "analytics", "relay", "command_api")
# Read by the images that run the services, not by our code.
FOREIGN_ENV = {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"}


def cli_commands() -> set[str]:
    group = typer.main.get_group(app)
    return set(group.commands)


def code_text() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")
    )


def k8s_docs() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def workloads() -> Iterator[dict[str, Any]]:
    for d in k8s_docs():
        if d["kind"] in {"Deployment", "DaemonSet", "StatefulSet"}:
            yield d


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def sharpeye_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if svc.get("image", "").startswith("sharpeye")
    }


def test_every_container_runs_a_real_cli_command() -> None:
    commands = cli_commands()
    used = [svc["command"] for svc in sharpeye_services().values()]
    used += [c["command"] for w in workloads() for c in w["spec"]["template"]["spec"]["containers"]]
    cmd = re.search(r"^CMD (\[.*\])$", (DOCKER / "Dockerfile").read_text(), re.M)
    assert cmd is not None
    used.append(yaml.safe_load(cmd.group(1)))
    assert {"api", "ingest", "relay"} <= {c[1] for c in used}
    for command in used:
        assert command[0] == "sharpeye" and command[1] in commands, command


def test_every_environment_variable_is_read_by_the_code() -> None:
    text = code_text()
    names: set[str] = set()
    for svc in sharpeye_services().values():
        names |= set(svc.get("environment", {}))
    for w in workloads():
        for c in w["spec"]["template"]["spec"]["containers"]:
            names |= {e["name"] for e in c.get("env", [])}
    # The Secret's keys, as the kustomization tells the operator to create them.
    secret_keys = re.findall(r"--from-literal=(\w+)=", (K8S / "kustomization.yaml").read_text())
    assert {"DATABASE_URL", "REDIS_URL", "SHARPEYE_TOKEN_SECRET"} <= set(secret_keys)
    names |= set(secret_keys)
    unread = sorted(n for n in names - FOREIGN_ENV if f'"{n}"' not in text)
    assert not unread, f"set in docker/ but read nowhere in the code: {unread}"


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])
def test_selectors_match_their_pods(kind: str) -> None:
    found = [w for w in workloads() if w["kind"] == kind]
    assert found
    for w in found:
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert w["spec"]["selector"]["matchLabels"].items() <= labels.items(), w["metadata"]


def test_services_reach_a_pod_port() -> None:
    pods = [w["spec"]["template"] for w in workloads()]
    for svc in (d for d in k8s_docs() if d["kind"] == "Service"):
        selector = svc["spec"]["selector"].items()
        targets = [p for p in pods if selector <= p["metadata"]["labels"].items()]
        assert targets, f"Service {svc['metadata']['name']} selects no pod"
        port_names = {
            port["name"] for p in targets for c in p["spec"]["containers"] for port in c["ports"]
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_probes_name_ports_and_paths_that_exist() -> None:
    text = code_text()
    for w in workloads():
        for c in w["spec"]["template"]["spec"]["containers"]:
            names = {p["name"] for p in c.get("ports", [])}
            numbers = {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    continue
                get = c[probe]["httpGet"]
                assert get["port"] in names | numbers, (w["metadata"]["name"], probe)
                assert f'"{get["path"]}"' in text, f"no route {get['path']}"


def test_configmaps_and_secrets_are_ones_the_operator_is_told_to_create() -> None:
    instructions = (K8S / "kustomization.yaml").read_text()
    for w in workloads():
        spec = w["spec"]["template"]["spec"]
        refs = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
        refs += [v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v]
        refs += [e["secretRef"]["name"] for c in spec["containers"] for e in c.get("envFrom", [])]
        for name in refs:
            assert re.search(rf"create (configmap|secret generic) {name}\b", instructions), name


def test_replicated_workers_get_distinct_node_ids() -> None:
    # Ingest leases and the API's consumer group key on SHARPEYE_NODE_ID: replicas that share
    # one would fight over the same cameras.
    for w in workloads():
        if w["spec"].get("replicas", 1) <= 1:
            continue
        env = {e["name"]: e for c in w["spec"]["template"]["spec"]["containers"] for e in c["env"]}
        node = env["SHARPEYE_NODE_ID"]
        assert node["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    ingest = sharpeye_services()["ingest"]
    assert ingest["environment"]["SHARPEYE_NODE_ID"] == ""


def test_empty_node_id_means_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from sharpeye.settings import Settings

    monkeypatch.setenv("SHARPEYE_NODE_ID", "")
    assert Settings().node_id == socket.gethostname()
    monkeypatch.setenv("SHARPEYE_NODE_ID", "ingest-7")
    assert Settings().node_id == "ingest-7"


def test_compose_mounts_files_that_exist_and_keeps_secrets_out_of_git() -> None:
    for svc in sharpeye_services().values():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert (DOCKER / source).resolve().exists(), volume
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "docker/secrets/" in ignored


def test_the_api_shards_cameras_over_the_relays_as_they_run() -> None:
    # The API computes each camera's relay worker: its worker count and base port must be the
    # relays' own, or walls are sent to a worker that does not own the camera (a second pull).
    def env_of(name: str) -> dict[str, str]:
        [w] = [w for w in workloads() if w["metadata"]["name"] == name]
        [c] = w["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e.get("value", "") for e in c["env"]}

    api, relay = env_of("sharpeye-api"), env_of("sharpeye-relay")
    for key in ("SHARPEYE_RELAY_WORKERS", "SHARPEYE_RELAY_PORT"):
        assert api[key] == relay[key], key
    assert all("{port}" in node for node in api["SHARPEYE_RELAY_NODES"].split(","))
