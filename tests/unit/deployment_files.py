"""Shared by the static checks of the deployment files: where they are, and how to read and run them."""
from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "compose" / "Dockerfile"
HAPROXY_CFG = ROOT / "compose" / "haproxy" / "haproxy.cfg"
PROMETHEUS_YML = ROOT / "compose" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "compose" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))

APP_SERVICES = ("gateway", "launcher", "filter", "statistics", "query", "health")
SCALED_SERVICES = ("launcher", "filter")


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def compose_services() -> dict:
    return load_yaml(COMPOSE_FILE)["services"]
