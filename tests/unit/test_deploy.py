"""The deployment's files, checked offline (docs/deployment.md): both kustomize overlays render
and pass the Kubernetes schemas strictly; yamllint is clean; every variable the manifests set
is a setting, and the settings they make pass the production checks; every probe is served on
the port it names; every grace period outlasts the drain it covers; every command is one of
ours; the pods are locked down, and no secret is written in them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from withdraw_service.api.app import create_app
from withdraw_service.cli import app as cli
from withdraw_service.settings import SHIPPED_RETRY_POLICIES, Settings
from withdraw_service.worker_health import WorkerHealth

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BIN = Path(sys.executable).parent
OVERLAYS = ["dev", "production"]
# What the Secret `withdraw-secrets` holds (docs/deployment.md#secrets): referenced, never here.
SECRET_KEYS = {
    "WITHDRAW_DATABASE_URL": "postgresql+psycopg://withdraw:pw@db.internal:5432/withdraw",
    "WITHDRAW_JWT_SECRET": "a-production-secret-of-more-than-32-characters",
    "WITHDRAW_CODEC_KEYS": "prod-1:cHJvZHVjdGlvbi1wYXlsb2FkLWtleS0zMi1ieXRlcyE=",
    "WITHDRAW_DW_CLIENT_SECRET": "dw-secret",
    "WITHDRAW_DW_APP_KEY": "dw-app-key",
}


def _kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is needed to render the manifests (kubectl kustomize)"
    return found


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = subprocess.run(
        [_kubectl(), "kustomize", str(K8S / "overlays" / request.param)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = tmp_path_factory.mktemp("k8s") / f"{request.param}.yaml"
    out.write_text(run.stdout, encoding="utf-8")
    return out


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _kind(path: Path, kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in _documents(path) if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _pod_specs(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for document in _documents(path):
        if document["kind"] in {"Deployment", "Job"}:
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def _config(path: Path) -> dict[str, str]:
    return dict(_kind(path, "ConfigMap", "withdraw-config")["data"])


def test_every_overlay_passes_the_kubernetes_schemas_strictly(rendered: Path) -> None:
    run = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(rendered)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    kinds = {d["kind"] for d in _documents(rendered)}
    assert kinds >= {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
    assert kinds >= {"Job", "ConfigMap", "ServiceAccount", "Namespace"}


def test_the_validator_refuses_a_misspelt_field(rendered: Path, tmp_path: Path) -> None:
    """The schema check above is not a formality: one wrong key fails it."""
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        rendered.read_text().replace("terminationGracePeriodSeconds", "terminationGraceSeconds")
    )
    run = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(wrong)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    assert "terminationGraceSeconds" in run.stdout + run.stderr


def test_yamllint_is_clean_on_every_deployment_file() -> None:
    run = subprocess.run(
        [str(BIN / "yamllint"), "--strict", "-c", str(ROOT / "deploy" / ".yamllint.yaml"),
         str(ROOT / "deploy")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_variable_set_is_a_setting_and_together_they_pass_production(
    rendered: Path,
) -> None:
    fields = {f"WITHDRAW_{name.upper()}" for name in Settings.model_fields}
    config = _config(rendered)
    assert set(config) - fields == set(), "the ConfigMap sets variables no setting reads"
    for name, spec in _pod_specs(rendered):
        for container in spec["containers"]:
            for variable in container.get("env", []):
                assert variable["name"] in fields, (name, variable["name"])
            refs = [e for e in container.get("envFrom", [])]
            assert {"configMapRef": {"name": "withdraw-config"}} in refs, name
            if name in {"withdraw-api", "withdraw-worker"}:
                assert {"secretRef": {"name": "withdraw-secrets"}} in refs, name
    assert set(SECRET_KEYS) <= fields
    settings = Settings(**_as_fields({**config, **SECRET_KEYS}))
    settings.check_production()  # what a pod of this overlay would refuse, refused here
    assert not settings.migrates_on_start
    assert settings.retry_policies == Path("/etc/withdraw/retry-policies.yaml")


def _secret_keys(container: dict[str, Any]) -> set[str]:
    """The keys of `withdraw-secrets` a container sees (all: "*")."""
    if {"secretRef": {"name": "withdraw-secrets"}} in container.get("envFrom", []):
        return {"*"}
    return {
        ref["key"]
        for variable in container.get("env", [])
        if (ref := variable.get("valueFrom", {}).get("secretKeyRef", {})).get("name")
        == "withdraw-secrets"
    }


def test_the_jobs_see_only_the_secrets_they_need(rendered: Path) -> None:
    needs = {
        "withdraw-migrate": {"WITHDRAW_DATABASE_URL"},
        "withdraw-setup-temporal": {"WITHDRAW_TEMPORAL_API_KEY"},
    }
    for name, spec in _pod_specs(rendered):
        (container,) = spec["containers"]
        if name in needs:
            assert _secret_keys(container) == needs[name], name
            for variable in container["env"]:  # each under its own name
                assert variable["name"] == variable["valueFrom"]["secretKeyRef"]["key"]


def test_every_file_the_config_names_is_mounted_where_it_is_read(rendered: Path) -> None:
    files = {
        key: PurePosixPath(value)
        for key, value in _config(rendered).items()
        if key.endswith("_FILE") or key == "WITHDRAW_RETRY_POLICIES"
    }
    assert "WITHDRAW_TEMPORAL_TLS_CA_FILE" in files  # the cluster's frontend has its own CA
    for name, spec in _pod_specs(rendered):
        if name == "withdraw-migrate":  # reads the database's address only
            continue
        (container,) = spec["containers"]
        mounts = [PurePosixPath(m["mountPath"]) for m in container["volumeMounts"]]
        for key, path in files.items():
            if key == "WITHDRAW_RETRY_POLICIES" and name == "withdraw-setup-temporal":
                continue  # no activity runs there
            assert any(path.is_relative_to(m) for m in mounts), (name, key, str(path))
        volumes = {v["name"] for v in spec["volumes"]}
        assert {m["name"] for m in container["volumeMounts"]} <= volumes, name


def _as_fields(variables: dict[str, str]) -> dict[str, Any]:
    return {name.removeprefix("WITHDRAW_").lower(): value for name, value in variables.items()}


def test_no_secret_is_written_in_the_manifests(rendered: Path) -> None:
    documents = _documents(rendered)
    assert "Secret" not in {d["kind"] for d in documents}
    config = _config(rendered)
    for key in SECRET_KEYS:
        assert key not in config, f"{key} belongs in the Secret withdraw-secrets"
    text = rendered.read_text()
    for value in SECRET_KEYS.values():
        assert value not in text


def test_every_command_is_one_of_ours(rendered: Path) -> None:
    for name, spec in _pod_specs(rendered):
        (container,) = spec["containers"]
        args = container["args"]
        run = CliRunner().invoke(cli, [*args, "--help"])
        assert run.exit_code == 0, (name, args, run.output)


def test_every_probe_is_served_on_the_port_it_names(rendered: Path) -> None:
    config = _config(rendered)
    app = create_app(Settings(environment="dev"))
    api_paths = {getattr(route, "path", None) for route in app.routes}
    health = WorkerHealth()
    api = _kind(rendered, "Deployment", "withdraw-api")["spec"]["template"]["spec"]
    worker = _kind(rendered, "Deployment", "withdraw-worker")["spec"]["template"]["spec"]
    for spec, served, port in (
        (api, lambda path: path in api_paths, int(config["WITHDRAW_API_PORT"])),
        (
            worker,
            lambda path: health.status("GET", path)[0] != 404,
            int(config["WITHDRAW_WORKER_HEALTH_PORT"]),
        ),
    ):
        (container,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            http = container[probe]["httpGet"]
            assert served(http["path"]), (container["name"], probe, http["path"])
            assert ports[http["port"]] == port, (container["name"], probe)
    assert (
        _kind(rendered, "Deployment", "withdraw-worker")["spec"]["template"]["metadata"][
            "annotations"
        ]["prometheus.io/port"]
        == config["WITHDRAW_WORKER_METRICS_PORT"]
    )


def test_every_grace_period_outlasts_the_drain_it_covers(rendered: Path) -> None:
    settings = Settings(**_as_fields({**_config(rendered), **SECRET_KEYS}))
    api = _kind(rendered, "Deployment", "withdraw-api")["spec"]["template"]["spec"]
    (container,) = api["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert api["terminationGracePeriodSeconds"] > pre_stop + settings.api_drain_seconds
    worker = _kind(rendered, "Deployment", "withdraw-worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] > settings.worker_shutdown_grace_seconds
    for name in ("withdraw-api", "withdraw-worker"):  # a rollout never lowers the capacity
        strategy = _kind(rendered, "Deployment", name)["spec"]["strategy"]
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_every_pod_runs_locked_down(rendered: Path) -> None:
    for name, spec in _pod_specs(rendered):
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "memory" in container["resources"]["limits"], name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, name  # the only writable place
    namespace = next(d for d in _documents(rendered) if d["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_workers_scale_on_the_queue_wide_backlog_taken_once(rendered: Path) -> None:
    hpa = _kind(rendered, "HorizontalPodAutoscaler", "withdraw-worker")
    (external,) = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert external["target"]["type"] == "AverageValue"  # backlog / replicas, per worker
    adapter = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())
    (rule,) = adapter["rules"]["external"]
    assert rule["name"]["as"] == external["metric"]["name"] == "withdraw_task_queue_backlog"
    assert rule["metricsQuery"].startswith("max(")  # every worker reports the same figure
    worker_source = (ROOT / "src" / "withdraw_service" / "worker.py").read_text()
    assert '"withdraw_task_queue_backlog"' in worker_source
    assert '{"task_queue": task_queue}' in worker_source  # the label the selector matches
    assert rule["metricsQuery"].endswith("by (task_queue)")  # one series per queue, kept
    selector = external["metric"]["selector"]["matchLabels"]
    assert selector["task_queue"] == _config(rendered)["WITHDRAW_TASK_QUEUE"]


def test_the_retry_policies_config_map_is_the_shipped_file() -> None:
    copy = K8S / "base" / "retry-policies.yaml"
    assert copy.read_bytes() == SHIPPED_RETRY_POLICIES.read_bytes(), (
        "deploy/k8s/base/retry-policies.yaml differs from the package's: copy it over"
    )


def test_the_image_runs_the_shipped_entrypoint_as_the_pods_user() -> None:
    dockerfile = (ROOT / "deploy" / "image" / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["withdraw-service"\]$', dockerfile, re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    run = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "deploy" / "image" / "Dockerfile")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout
