"""charts/tweetstream, checked offline: `helm lint --strict` and `helm template` for both values files
(helm-python-sdk, which embeds Helm 4), and every rendered document validated against the
Kubernetes 1.33 schemas in strict mode (kubernetes-validate); KEDA's objects, custom resources,
are skipped by kind. Nothing is installed on a cluster here. The SDK runs in a subprocess of its
own, so the Go runtime it loads stays out of the test process."""
from __future__ import annotations

import configparser
import copy
import json
import subprocess
import sys

import pytest
import yaml

from tests.unit.deployment_files import APP_SERVICES, ROOT

CHART = ROOT / "charts" / "tweetstream"
VALUES_FILES = {"stage": CHART / "values-stage.yaml", "production": CHART / "values-production.yaml"}
KUBERNETES = "1.33.0"
RELEASE, NAMESPACE = "tweetstream", "tweetstream"
# custom resources (KEDA's CRDs): no schema of Kubernetes' own, skipped by kind
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
BATCH_QUEUE = "evt-launcher-tweet_batch--filter.handle_batch"

# Run by `python -c` with {"chart", "kube", "release", "namespace", "jobs": [{"values", "lint"}]} on stdin;
# prints {"answers": [{"lint", "manifests"} or {"error"}]}, or {"unavailable": why} when the SDK cannot run.
RUNNER = r"""
import json, sys
try:
    import helm_python as helm
    version = helm.helm_sdk_version()
except Exception as error:
    print(json.dumps({"unavailable": f"helm-python-sdk cannot run here: {type(error).__name__}: {error}"}))
    sys.exit(0)
request = json.load(sys.stdin)
answers = []
for job in request["jobs"]:
    answer = {}
    try:
        if job["lint"]:
            answer["lint"] = helm.lint(request["chart"], job["values"], strict=True, kube_version="v" + request["kube"])
        with helm.Chart.load(request["chart"]) as chart:
            answer["manifests"] = chart.render(job["values"], name=request["release"], namespace=request["namespace"],
                                               is_install=True)
    except helm.HelmError as error:
        answer["error"] = f"{type(error).__name__}: {error}"
    answers.append(answer)
print(json.dumps({"helm": version, "answers": answers}))
"""


def values_file(flavor: str) -> dict:
    return yaml.safe_load(VALUES_FILES[flavor].read_text())


def merged(base: dict, override: dict) -> dict:
    """`override` over `base`, maps merged key by key (as Helm coalesces values)."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) else value
    return result


def helm(jobs: list[tuple[dict, bool]]) -> list[dict]:
    """Lint (when asked) and render the chart once per (values, lint); skips, saying why, when the SDK cannot run."""
    request = {"chart": str(CHART), "kube": KUBERNETES, "release": RELEASE, "namespace": NAMESPACE,
               "jobs": [{"values": values, "lint": lint} for values, lint in jobs]}
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(request), capture_output=True, text=True,
                          timeout=240, cwd=ROOT)
    assert done.returncode == 0, f"the helm runner failed ({done.returncode}): {done.stderr[-2000:]}"
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if "unavailable" in answer:
        pytest.skip(answer["unavailable"])
    return answer["answers"]


def documents(manifests: dict[str, str]) -> list[dict]:
    """Every object `helm template` would print (NOTES.txt is not one)."""
    found = []
    for path in sorted(manifests):
        if not path.endswith("NOTES.txt"):
            found.extend(doc for doc in yaml.safe_load_all(manifests[path]) if doc)
    return found


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_specs(docs: list[dict]):
    """(kind, name, pod spec) of every workload."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield doc["kind"], doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def setup_cfg_version() -> str:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser["metadata"]["version"]


@pytest.fixture(scope="module")
def chart():
    """Lint reports and rendered objects: each values file, and each with KEDA on."""
    keda = {"keda": {"enabled": True}}
    jobs = {"stage": (values_file("stage"), True), "production": (values_file("production"), True),
            "stage+keda": (merged(values_file("stage"), keda), False),
            "production+keda": (merged(values_file("production"), keda), False)}
    answers = dict(zip(jobs, helm(list(jobs.values())), strict=True))
    for name, answer in answers.items():
        assert "error" not in answer, f"{name}: {answer['error']}"
    return {name: {"lint": answer.get("lint"), "docs": documents(answer["manifests"])} for name, answer in answers.items()}


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_helm_lint_strict_passes_for_each_values_file(chart, flavor):
    report = chart[flavor]["lint"]
    assert report["total_charts_linted"] == 1
    assert report["errors"] == [], report
    # strict: a warning (severity 2) fails as an error does; only information (1) may remain
    assert [message for message in report["messages"] if message["severity"] >= 2] == []


def test_lint_and_render_refuse_an_image_tagged_latest():
    values = merged(values_file("production"), {"image": {"tag": "latest"}})
    [answer] = helm([(values, True)])
    assert any("/image/tag" in error for error in answer["lint"]["errors"]), answer["lint"]
    # values.schema.json refuses it before any template runs (the templates refuse it too)
    assert "/image/tag" in answer["error"]


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_each_values_file_renders_the_release(chart, flavor):
    docs = chart[flavor]["docs"]
    kinds = {doc["kind"] for doc in docs}
    assert {"ConfigMap", "Deployment", "Service", "Job", "NetworkPolicy", "HorizontalPodAutoscaler"} <= kinds
    for doc in docs:
        assert doc["metadata"]["name"].startswith(f"{RELEASE}-"), doc["metadata"]["name"]


@pytest.mark.parametrize("variant", ["stage", "production", "stage+keda", "production+keda"])
def test_every_rendered_document_validates_against_kubernetes_1_33_in_strict_mode(chart, variant):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    skipped = []
    for doc in chart[variant]["docs"]:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            skipped.append(doc["kind"])
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {'.'.join(map(str, error.path))}: {error.message}")
    assert sorted(skipped) == (["ScaledObject", "TriggerAuthentication"] if "keda" in variant else [])


def test_the_strict_schema_validation_rejects_a_field_kubernetes_does_not_know(chart):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = copy.deepcopy(of_kind(chart["stage"]["docs"], "Deployment")[f"{RELEASE}-gateway"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_every_service_has_a_deployment_that_runs_it_from_the_pinned_image(chart, flavor):
    deployments = of_kind(chart[flavor]["docs"], "Deployment")
    assert sorted(deployments) == sorted(f"{RELEASE}-{service}" for service in APP_SERVICES)
    for service in APP_SERVICES:
        [container] = deployments[f"{RELEASE}-{service}"]["spec"]["template"]["spec"]["containers"]
        assert {"name": "SERVICE", "value": service} in container["env"]
        assert container["image"] == f"tweetstream:{setup_cfg_version()}"


def test_the_image_tag_is_pinned_to_the_version_of_setup_cfg():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert values["image"]["tag"] == chart_yaml["appVersion"] == setup_cfg_version()
    for flavor in VALUES_FILES:
        assert "tag" not in values_file(flavor).get("image", {}), f"{flavor} overrides the pinned tag"


RESTRICTED = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_every_container_has_both_probes_limits_and_the_restricted_security_context(chart, flavor):
    workloads = list(pod_specs(chart[flavor]["docs"]))
    assert {kind for kind, _, _ in workloads} == ({"Deployment", "Job", "StatefulSet"} if flavor == "stage"
                                                  else {"Deployment", "Job"})
    for kind, name, spec in workloads:
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        for container in spec["containers"]:
            where = f"{kind} {name}, container {container['name']}"
            # a Job's container runs once to completion: probes do not apply to it
            if kind != "Job":
                assert "readinessProbe" in container and "livenessProbe" in container, where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            context = container["securityContext"]
            assert {key: context.get(key) for key in RESTRICTED} == RESTRICTED, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp is an emptyDir on the read-only root"


def test_the_gateway_is_ready_on_api_health_and_alive_on_metrics_and_the_others_probe_metrics_on_9100(chart):
    deployments = of_kind(chart["production"]["docs"], "Deployment")
    for service in APP_SERVICES:
        [container] = deployments[f"{RELEASE}-{service}"]["spec"]["template"]["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        env = {item["name"]: item.get("value") for item in container["env"]}
        ready, alive = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
        if service == "gateway":
            assert ports == {"http": 8004} and env["WEB_SERVER_ADDRESS"] == "0.0.0.0:8004" and env["METRICS_PORT"] == "0"
            assert (ready["path"], ready["port"]) == ("/api/health", "http")
            assert (alive["path"], alive["port"]) == ("/metrics", "http")
            # /api/health answers within 5 s, 500 included: the probe waits longer than that
            assert container["readinessProbe"]["timeoutSeconds"] > 5
        else:
            assert ports == {"metrics": 9100} and env["METRICS_PORT"] == "9100"
            assert (ready["path"], ready["port"]) == (alive["path"], alive["port"]) == ("/metrics", "metrics")


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_the_gateway_rolls_out_keeping_every_replica_and_has_a_service(chart, flavor):
    docs = chart[flavor]["docs"]
    gateway = of_kind(docs, "Deployment")[f"{RELEASE}-gateway"]
    assert gateway["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    service = of_kind(docs, "Service")[f"{RELEASE}-gateway"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "gateway"
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    ingresses = of_kind(docs, "Ingress")
    assert sorted(ingresses) == ([f"{RELEASE}-gateway"] if values_file(flavor).get("ingress", {}).get("enabled") else [])
    for ingress in ingresses.values():
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": f"{RELEASE}-gateway", "port": {"name": "http"}}


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_a_disruption_budget_covers_exactly_the_services_with_more_than_one_replica(chart, flavor):
    docs = chart[flavor]["docs"]
    hpa = of_kind(docs, "HorizontalPodAutoscaler")[f"{RELEASE}-filter"]
    replicas = {name: deployment["spec"].get("replicas", hpa["spec"]["minReplicas"])
                for name, deployment in of_kind(docs, "Deployment").items()}
    budgets = of_kind(docs, "PodDisruptionBudget")
    assert sorted(budgets) == sorted(name for name, count in replicas.items() if count > 1)
    assert budgets, f"{flavor} runs no service with more than one replica"
    for name, budget in budgets.items():
        assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == name.removeprefix(f"{RELEASE}-")


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_the_filter_scales_on_cpu_or_with_keda_on_the_batch_queue_never_both(chart, flavor):
    plain, keda = chart[flavor]["docs"], chart[f"{flavor}+keda"]["docs"]
    [hpa] = of_kind(plain, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-filter"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in of_kind(plain, "Deployment")[f"{RELEASE}-filter"]["spec"], "the HPA sets the replicas"
    assert not of_kind(plain, "ScaledObject")
    # KEDA makes its own HPA from the ScaledObject: the chart's must go
    assert not of_kind(keda, "HorizontalPodAutoscaler")
    scaled = of_kind(keda, "ScaledObject")[f"{RELEASE}-filter"]
    rabbitmq, cpu = scaled["spec"]["triggers"]
    assert (rabbitmq["type"], rabbitmq["metadata"]["queueName"], rabbitmq["metadata"]["mode"]) == (
        "rabbitmq", BATCH_QUEUE, "QueueLength")
    assert cpu["type"] == "cpu"
    auth = of_kind(keda, "TriggerAuthentication")[rabbitmq["authenticationRef"]["name"]]
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "host", "name": f"{RELEASE}-secrets"
                                                if flavor == "stage" else "tweetstream-secrets", "key": "KEDA_RABBITMQ_HOST"}]


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_the_migrations_run_as_compose_runs_them_in_a_hook_job(chart, flavor):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    [job] = of_kind(chart[flavor]["docs"], "Job").values()
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert "pre-upgrade" in hooks
    # production's database exists before the release; stage's comes with it
    assert ("pre-install" if flavor == "production" else "post-install") in hooks
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == compose["services"]["migrate"]["command"]
    assert {item["name"] for item in container["env"]} == {"DB_URI", "DB_PASSWORD", "DB_READER_PASSWORD"}


@pytest.mark.parametrize("flavor", sorted(VALUES_FILES))
def test_only_the_gateway_takes_traffic_from_outside_the_release(chart, flavor):
    policies = of_kind(chart[flavor]["docs"], "NetworkPolicy")
    release = {"app.kubernetes.io/name": "tweetstream", "app.kubernetes.io/instance": RELEASE}
    within = policies[f"{RELEASE}-within-release"]
    assert within["spec"]["podSelector"]["matchLabels"] == release
    from_release, from_prometheus = within["spec"]["ingress"]
    assert from_release == {"from": [{"podSelector": {"matchLabels": release}}]}
    assert from_prometheus["ports"] == [{"port": 9100, "protocol": "TCP"}, {"port": 8004, "protocol": "TCP"}]
    gateway = policies[f"{RELEASE}-gateway"]
    assert gateway["spec"]["podSelector"]["matchLabels"] == {**release, "app.kubernetes.io/component": "gateway"}
    assert [rule["ports"] for rule in gateway["spec"]["ingress"]] == [[{"port": 8004, "protocol": "TCP"}]]
    assert sorted(policies) == [f"{RELEASE}-gateway", f"{RELEASE}-within-release"]


def test_stage_runs_rabbitmq_and_postgresql_in_the_release_and_production_outside_it(chart):
    stage = of_kind(chart["stage"]["docs"], "StatefulSet")
    images = {name: sts["spec"]["template"]["spec"]["containers"][0]["image"] for name, sts in stage.items()}
    assert images == {f"{RELEASE}-rabbitmq": "rabbitmq:3-management", f"{RELEASE}-postgresql": "postgres:15"}
    assert all(sts["spec"]["replicas"] == 1 for sts in stage.values())
    assert not of_kind(chart["production"]["docs"], "StatefulSet")
    configs = {flavor: of_kind(chart[flavor]["docs"], "ConfigMap")[f"{RELEASE}-config"]["data"] for flavor in VALUES_FILES}
    assert (configs["stage"]["FLAVOR"], configs["production"]["FLAVOR"], configs["production"]["SOURCE"]) == (
        "stage", "production", "x")


def test_production_refuses_a_secret_made_by_the_chart():
    values = merged(values_file("production"), {"secrets": {"create": True}})
    [answer] = helm([(values, False)])
    assert "secrets.create is for stage" in answer["error"]
