#!/usr/bin/env python3
"""Structural checks of the container, compose and Kubernetes files (Docker and a cluster cannot run in CI)."""
import pathlib
import re
import sys

import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent.parent
failures = []


def need(condition, message):
    if not condition:
        failures.append(message)


# Dockerfile: multi-stage, non-root final stage, the collector as entry point.
dockerfile = (DEPLOY / "container" / "Dockerfile").read_text()
stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
need(len(stages) >= 2, "Dockerfile: expected a multi-stage build")
final = dockerfile[dockerfile.rfind("\nFROM"):]
user = re.search(r"^USER\s+(\S+)", final, re.M)
need(user is not None and not user.group(1).startswith(("0", "root")), "Dockerfile: final stage must set a non-root USER")
need("--from=build" in final, "Dockerfile: final stage must copy from the build stage")
need(re.search(r'^ENTRYPOINT \["/usr/bin/muster-collector"\]', final, re.M), "Dockerfile: ENTRYPOINT")
need(re.search(r"^EXPOSE 8443", final, re.M), "Dockerfile: EXPOSE 8443")
for path in re.findall(r"^COPY (?!--)(\S+)", dockerfile, re.M):
    need((DEPLOY.parent / path).exists(), f"Dockerfile: COPY source {path} does not exist")

# compose: PostgreSQL, two collector replicas on it, a proxy in front that names both.
compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
services = compose.get("services", {})
need("db" in services and services["db"]["image"].startswith("postgres:"), "compose: db must be PostgreSQL")
collectors = [name for name in services if name.startswith("collector-")]
need(len(collectors) == 2, f"compose: expected two collector replicas, found {collectors}")
for name in collectors:
    svc = services[name]
    env = svc.get("environment", {})
    need(str(env.get("MUSTER_DATABASE_URL", "")).startswith("postgres://"), f"compose: {name} must use PostgreSQL")
    need(svc.get("depends_on", {}).get("db", {}).get("condition") == "service_healthy", f"compose: {name} waits for db")
    need(svc.get("build", {}).get("dockerfile") == "deploy/container/Dockerfile", f"compose: {name} build")
need(services.get("collector-2", {}).get("depends_on", {}).get("collector-1", {}).get("condition") == "service_healthy",
     "compose: collector-2 must wait for collector-1 to create the CA")
proxy = services.get("proxy", {})
need("8443:8443" in proxy.get("ports", []), "compose: proxy publishes 8443")
nginx = (DEPLOY / "compose" / "nginx.conf").read_text()
for name in collectors:
    need(f"server {name}:8443" in nginx, f"nginx.conf: upstream {name} missing")
for volume in proxy.get("volumes", []):
    need((DEPLOY / volume.split(":")[0]).exists(), f"compose: proxy volume source {volume} missing")
# The proxy names each client by the PROXY protocol, and the collectors trust exactly the proxy's fixed address.
need(re.search(r"^\s*proxy_protocol on;", nginx, re.M), "nginx.conf: proxy_protocol on")
proxy_ip = proxy.get("networks", {}).get("default", {}).get("ipv4_address")
need(proxy_ip is not None, "compose: the proxy needs a fixed address for the collectors to trust")
for name in collectors:
    trusted = str(services[name].get("environment", {}).get("MUSTER_TRUSTED_PROXIES", ""))
    need(proxy_ip in trusted.split(","), f"compose: {name} must trust the proxy ({proxy_ip}), trusts {trusted!r}")

# Kubernetes: Deployment with 2 replicas and probes, Service selecting it, Secret holding the database URL.
docs = []
for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            need("apiVersion" in doc and "kind" in doc, f"{path.name}: apiVersion and kind required")
            docs.append(doc)
by_kind = {}
for doc in docs:
    by_kind.setdefault(doc["kind"], []).append(doc)
kustomization = by_kind.get("Kustomization", [{}])[0]
for resource in kustomization.get("resources", []):
    need((DEPLOY / "kubernetes" / resource).exists(), f"kustomization: {resource} missing")
deployment = by_kind.get("Deployment", [{}])[0]
spec = deployment.get("spec", {})
need(spec.get("replicas") == 2, "Deployment: replicas must be 2")
template = spec.get("template", {})
labels = template.get("metadata", {}).get("labels", {})
need(spec.get("selector", {}).get("matchLabels", {}).items() <= labels.items(), "Deployment: selector must match")
pod = template.get("spec", {})
need(pod.get("securityContext", {}).get("runAsNonRoot") is True, "Deployment: runAsNonRoot")
container = pod.get("containers", [{}])[0]
need(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "Deployment: readiness /readyz")
need(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "Deployment: liveness /healthz")
ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
for probe in ("readinessProbe", "livenessProbe"):
    need(container[probe]["httpGet"]["port"] in ports, f"Deployment: {probe} port must name a container port")
env = {e["name"]: e for e in container.get("env", [])}
ref = env.get("MUSTER_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
need(ref.get("name") in secrets and ref.get("key") in secrets[ref["name"]].get("stringData", {}),
     "Deployment: MUSTER_DATABASE_URL must come from a Secret key that exists")
for volume in pod.get("volumes", []):
    if "secret" in volume:
        need(volume["secret"]["secretName"] in secrets, f"Deployment: secret volume {volume['name']}")
for service in by_kind.get("Service", []):
    name = service.get("metadata", {}).get("name")
    need(service.get("spec", {}).get("selector", {}).items() <= labels.items(), f"Service {name}: selector")
    for port in service.get("spec", {}).get("ports", []):
        need(port.get("targetPort") in ports or port.get("targetPort") in ports.values(), f"Service {name}: targetPort")
external = [s for s in by_kind.get("Service", []) if s.get("spec", {}).get("type") == "LoadBalancer"]
need(len(external) == 1, "Kubernetes: one LoadBalancer Service for clients outside the cluster")
for service in external:
    annotations = service.get("metadata", {}).get("annotations", {})
    need(any("proxy-protocol" in key for key in annotations), "LoadBalancer Service: the PROXY protocol annotation")
    need("MUSTER_TRUSTED_PROXIES" in env, "Deployment: MUSTER_TRUSTED_PROXIES for the load balancer's PROXY header")

if failures:
    print("\n".join(f"check_manifests: {f}" for f in failures), file=sys.stderr)
    sys.exit(1)
print(f"check_manifests: Dockerfile, compose ({len(services)} services), {len(docs)} Kubernetes documents ok",
      file=sys.stderr)
