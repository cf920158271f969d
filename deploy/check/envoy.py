#!/usr/bin/env python3
"""Checks deploy/envoy/: every Envoy configuration passes `envoy --mode validate` (the placeholder
token rendered, the files envoy-production.yaml reads made up in a scratch directory), and the
mesh examples under deploy/envoy/mesh/ follow the manifest rules and agree with each other and
with the Helm chart. Prints each violation and exits 1 if there is any.

Envoy configurations: besides Envoy's own validation, every ext_authz filter fails closed
(failure_mode_allow false, 503 on error), no credential is written in them (only the
TESSERA_SERVICE_TOKEN placeholder), context_extensions use only the keys the edge reads, and the
production file reaches the edge over TLS with a CA, SNI and a checked name.

Mesh manifests: parseable YAML; apiVersion, kind and metadata.name (and a namespace) on every
object; workloads follow deploy/check/manifests.py's container rules; no literal token; the
references hold: the extra Service selects the chart's edge pods and names a port they have, each
mesh points at that Service and port, Istio's AuthorizationPolicy names a declared provider,
Envoy Gateway's SecurityPolicy targets a route in the file, its EnvoyPatchPolicy patches that
policy's filter on that route's Gateway, and a cross-namespace reference has its ReferenceGrant,
Contour's HTTPProxy names the ExtensionService on a TLS virtual host; route policy is one the
edge can read. `--self-test` breaks each reference in turn and fails unless every break is caught.

Usage: envoy.py [--envoy PATH] [--helm PATH] [--self-test]
"""

from __future__ import annotations

import argparse
import copy
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from manifests import check_container, pod_spec  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENVOY_DIR = os.path.join(ROOT, "deploy", "envoy")
MESH_DIR = os.path.join(ENVOY_DIR, "mesh")
CHART = os.path.join(ROOT, "deploy", "helm", "tessera")
PLACEHOLDER = "TESSERA_SERVICE_TOKEN"
# A Tessera token (tsr_<kind>_<secret>) written anywhere is a leaked credential.
TOKEN = re.compile(r"tsr_[a-z]{3}_[A-Za-z0-9]{20,}")
CONTEXT_KEYS = {"tessera_public", "tessera_namespace_rules"}
# What the edge's ext_authz reads a namespace rule as: `[METHODS] PATTERN [ACTION]`.
RULE = re.compile(r"^(?:[A-Z]+(?:,[A-Z]+)* )?/\S* ?(?:[a-z][a-z0-9_.:-]*)?$")
EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "GatewayClass"}


def walk(node, found):
    """Every mapping under node, depth first."""
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            walk(value, found)
    elif isinstance(node, list):
        for value in node:
            walk(value, found)
    return found


def context_errors(where: str, context: dict) -> list[str]:
    errors = []
    for key, value in context.items():
        if key not in CONTEXT_KEYS:
            errors.append(f"{where}: context key {key!r} is not one the edge reads ({sorted(CONTEXT_KEYS)})")
        elif key == "tessera_public" and value not in ("true", "false"):
            errors.append(f"{where}: tessera_public must be \"true\" or \"false\", not {value!r}")
        elif key == "tessera_namespace_rules":
            for rule in str(value).split(";"):
                if not RULE.match(rule.strip()):
                    errors.append(f"{where}: namespace rule {rule.strip()!r} does not parse")
    return errors


# --- Envoy configurations ------------------------------------------------------------------------

def envoy_config_errors(name: str, config: dict) -> list[str]:
    errors = []
    filters = [m for m in walk(config, []) if m.get("@type") == EXT_AUTHZ]
    if not filters:
        errors.append(f"{name}: no ext_authz filter")
    for f in filters:
        if f.get("failure_mode_allow") is not False:
            errors.append(f"{name}: ext_authz does not say failure_mode_allow: false")
        if (f.get("status_on_error") or {}).get("code") != "ServiceUnavailable":
            errors.append(f"{name}: ext_authz status_on_error is not ServiceUnavailable (503)")
    for m in walk(config, []):
        if "context_extensions" in m:
            errors += context_errors(f"{name}: context_extensions", m["context_extensions"])
    if name == "envoy-production.yaml":
        edge = [c for c in config["static_resources"]["clusters"] if c["name"] == "tessera_edge"]
        tls = (edge[0].get("transport_socket") or {}).get("typed_config", {}) if edge else {}
        validation = (tls.get("common_tls_context") or {}).get("validation_context") or {}
        if "UpstreamTlsContext" not in tls.get("@type", ""):
            errors.append(f"{name}: the edge is not reached over TLS")
        if not tls.get("sni"):
            errors.append(f"{name}: no SNI for the edge")
        if not (validation.get("trusted_ca") and validation.get("match_typed_subject_alt_names")):
            errors.append(f"{name}: the edge's certificate is not checked against a CA and a name")
        if not edge or not edge[0].get("circuit_breakers"):
            errors.append(f"{name}: no circuit breakers on the edge's cluster")
    return errors


def render_envoy(path: str, scratch: str) -> str:
    """The configuration as Envoy would load it: a made-up token for the placeholder and every
    /etc/envoy/ file it reads made up under scratch."""
    text = open(path).read().replace(PLACEHOLDER, "tsr_svc_" + "x" * 40)
    if "/etc/envoy/" in text:
        etc = os.path.join(scratch, "etc")
        for d in ("tls", "tessera", "tessera-token", "sds"):
            os.makedirs(os.path.join(etc, d), exist_ok=True)
        key, crt = os.path.join(etc, "tls", "tls.key"), os.path.join(etc, "tls", "tls.crt")
        if not os.path.exists(crt):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                            "-days", "1", "-subj", "/CN=envoy-check"],
                           check=True, capture_output=True)
            shutil.copy(crt, os.path.join(etc, "tessera", "ca.crt"))
            with open(os.path.join(etc, "tessera-token", "token"), "w") as f:
                f.write("tsr_svc_" + "x" * 40 + "\n")
            sds = open(os.path.join(ENVOY_DIR, "tessera-token-sds.yaml")).read()
            with open(os.path.join(etc, "sds", "tessera-token.yaml"), "w") as f:
                f.write(sds.replace("/etc/envoy/", etc + "/"))
        text = text.replace("/etc/envoy/", etc + "/")
    out = os.path.join(scratch, os.path.basename(path))
    with open(out, "w") as f:
        f.write(text)
    return out


def check_envoy_configs(envoy: str | None) -> list[str]:
    errors = []
    paths = sorted(p for p in glob.glob(os.path.join(ENVOY_DIR, "*.yaml")) if not p.endswith("-sds.yaml"))
    with tempfile.TemporaryDirectory() as scratch:
        for path in paths:
            name = os.path.basename(path)
            text = open(path).read()
            if TOKEN.search(text):
                errors.append(f"{name}: holds a literal Tessera token; use the {PLACEHOLDER} placeholder")
            errors += envoy_config_errors(name, yaml.safe_load(text))
            if envoy is None:
                continue
            try:
                rendered = render_envoy(path, scratch)
            except (OSError, subprocess.CalledProcessError) as error:
                errors.append(f"{name}: cannot make up the files it reads (openssl): {error}")
                continue
            run = subprocess.run([envoy, "--mode", "validate", "-c", rendered, "--log-level", "error"],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                errors.append(f"{name}: envoy --mode validate: {(run.stderr or run.stdout).strip()[-600:]}")
            else:
                print(f"envoy check: {name}: envoy --mode validate OK")
    return errors


# --- Mesh manifests ------------------------------------------------------------------------------

def chart_edge_pods(helm: str | None) -> dict | None:
    """The chart's HTTP edge pod template, rendered as the mesh examples assume (release tessera in
    namespace tessera), or None without helm."""
    if not helm:
        return None
    out = subprocess.run([helm, "template", "tessera", CHART, "--namespace", "tessera",
                          "--set", "edges.http.enabled=true"], capture_output=True, text=True, check=True)
    for obj in yaml.safe_load_all(out.stdout):
        if obj and obj["kind"] == "Deployment" and obj["metadata"]["name"] == "tessera-edge-http":
            return obj["spec"]["template"]
    return None


def check_mesh(docs: dict[str, list[dict]], edge_pods: dict | None) -> list[str]:
    errors: list[str] = []
    objects = []
    for name, items in docs.items():
        for obj in items:
            where = f"{name}: {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            for field in ("apiVersion", "kind", "metadata"):
                if not obj.get(field):
                    errors.append(f"{where}: {field} missing")
            meta = obj.get("metadata") or {}
            if not meta.get("name"):
                errors.append(f"{where}: metadata.name missing")
            if obj.get("kind") not in CLUSTER_SCOPED and not meta.get("namespace"):
                errors.append(f"{where}: metadata.namespace missing (the references name namespaces)")
            if TOKEN.search(yaml.safe_dump(obj)):
                errors.append(f"{where}: holds a literal Tessera token; use the {PLACEHOLDER} placeholder")
            if obj.get("kind") in ("Secret", "ConfigMap"):
                errors.append(f"{where}: the examples must not carry secrets or configuration copies")
            pod = pod_spec(obj) if obj.get("spec") else None
            if pod:
                for c in pod.get("containers", []):
                    check_container(f"{where}/{c['name']}", pod, c, obj["kind"] != "Job", errors)
            objects.append((name, obj))

    def find(kind, name=None, namespace=None):
        return [o for _, o in objects if o.get("kind") == kind
                and (name is None or o["metadata"].get("name") == name)
                and (namespace is None or o["metadata"].get("namespace") == namespace)]

    # The Service every mesh calls: the chart's edge pods, on a port they have.
    services = {}
    for svc in find("Service"):
        key = (svc["metadata"]["name"], svc["metadata"].get("namespace"))
        services[key] = {p["port"] for p in svc["spec"].get("ports", [])}
        if edge_pods is not None:
            labels = edge_pods["metadata"]["labels"]
            selector = svc["spec"].get("selector") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                errors.append(f"Service/{key[0]}: selector {selector} does not select the chart's edge pods {labels}")
            names = {p.get("name") for c in edge_pods["spec"]["containers"] for p in c.get("ports", [])}
            for port in svc["spec"].get("ports", []):
                if isinstance(port.get("targetPort"), str) and port["targetPort"] not in names:
                    errors.append(f"Service/{key[0]}: targetPort {port['targetPort']} is not a port of the edge pods {names}")
        if not any(p.get("appProtocol") == "grpc" or str(p.get("name", "")).startswith("grpc")
                   for p in svc["spec"].get("ports", [])):
            errors.append(f"Service/{key[0]}: no port says gRPC (name grpc*, appProtocol grpc)")

    def service_ref(where, name, namespace, port):
        if port not in services.get((name, namespace), set()):
            errors.append(f"{where}: {name}.{namespace}:{port} is not a Service port declared in the examples "
                          f"({sorted(services)})")

    # Istio: the provider the AuthorizationPolicy names exists, points at the Service, fails closed.
    providers = {}
    for op in find("IstioOperator"):
        for p in ((op["spec"].get("meshConfig") or {}).get("extensionProviders") or []):
            providers[p["name"]] = p
            grpc = p.get("envoyExtAuthzGrpc")
            if grpc is None:
                continue
            host = grpc["service"].split("/")[-1].split(".")
            service_ref(f"extensionProvider {p['name']}", host[0], host[1] if len(host) > 1 else None, grpc.get("port"))
            if grpc.get("failOpen") is not False:
                errors.append(f"extensionProvider {p['name']}: failOpen is not false")
    for ap in find("AuthorizationPolicy"):
        spec = ap["spec"]
        if spec.get("action") == "CUSTOM":
            name = (spec.get("provider") or {}).get("name")
            if name not in providers:
                errors.append(f"AuthorizationPolicy/{ap['metadata']['name']}: provider {name!r} is not an "
                              f"extensionProvider ({sorted(providers)})")
    for ef in find("EnvoyFilter"):
        for patch in ef["spec"].get("configPatches", []):
            sub = (((patch.get("match") or {}).get("listener") or {}).get("filterChain") or {}).get("filter", {})
            if (sub.get("subFilter") or {}).get("name") != "envoy.filters.http.ext_authz":
                errors.append(f"EnvoyFilter/{ef['metadata']['name']}: does not patch the ext_authz filter")
            if PLACEHOLDER not in yaml.safe_dump(patch):
                errors.append(f"EnvoyFilter/{ef['metadata']['name']}: the caller's credential is not the placeholder")

    # Envoy Gateway: the SecurityPolicy targets a route here, calls the Service, fails closed; its
    # patch targets that policy's filter on that route's Gateway; cross-namespace refs are granted.
    routes = {(r["metadata"]["name"], r["metadata"]["namespace"]): r for r in find("HTTPRoute")}
    for sp in find("SecurityPolicy"):
        ns, name = sp["metadata"]["namespace"], sp["metadata"]["name"]
        where = f"SecurityPolicy/{name}"
        targeted = [routes.get((t["name"], ns)) for t in sp["spec"].get("targetRefs", []) if t.get("kind") == "HTTPRoute"]
        if not targeted or None in targeted:
            errors.append(f"{where}: targetRefs name no HTTPRoute of the examples")
        ext = sp["spec"].get("extAuth") or {}
        for ref in (ext.get("grpc") or {}).get("backendRefs", []):
            ref_ns = ref.get("namespace", ns)
            service_ref(where, ref["name"], ref_ns, ref.get("port"))
            if ref_ns != ns and not any(
                    g["metadata"]["namespace"] == ref_ns
                    and any(f.get("kind") == "SecurityPolicy" and f.get("namespace") == ns for f in g["spec"]["from"])
                    and any(t.get("kind") == "Service" and t.get("name", ref["name"]) == ref["name"] for t in g["spec"]["to"])
                    for g in find("ReferenceGrant")):
                errors.append(f"{where}: no ReferenceGrant lets it reach Service {ref['name']}.{ref_ns}")
        if ext.get("failOpen") is not False:
            errors.append(f"{where}: failOpen is not false")
        errors += context_errors(where, {c["name"]: c.get("value") for c in ext.get("contextExtensions", [])})
        filter_name = f"envoy.filters.http.ext_authz/securitypolicy/{ns}/{name}"
        gateways = {(p["name"], p.get("sectionName")) for r in targeted if r for p in r["spec"].get("parentRefs", [])}
        for epp in find("EnvoyPatchPolicy", namespace=ns):
            target = epp["spec"]["targetRef"]["name"]
            if target not in {g for g, _ in gateways}:
                errors.append(f"EnvoyPatchPolicy/{epp['metadata']['name']}: targets Gateway {target}, "
                              f"not the one the route is attached to ({sorted(gateways)})")
            for patch in epp["spec"].get("jsonPatches", []):
                listener = f"{ns}/{target}/"
                if not patch["name"].startswith(listener) or (target, patch["name"][len(listener):]) not in gateways:
                    errors.append(f"EnvoyPatchPolicy/{epp['metadata']['name']}: listener {patch['name']} is not "
                                  f"<namespace>/<gateway>/<section> of the route's parentRefs")
                if filter_name not in patch["operation"].get("jsonPath", ""):
                    errors.append(f"EnvoyPatchPolicy/{epp['metadata']['name']}: does not patch {filter_name}")

    # Contour: the HTTPProxy names the ExtensionService, on a TLS virtual host; the ExtensionService
    # calls the Service over HTTP/2; the route context is one the edge reads.
    extensions = {(e["metadata"]["name"], e["metadata"]["namespace"]): e for e in find("ExtensionService")}
    for ext in extensions.values():
        where = f"ExtensionService/{ext['metadata']['name']}"
        if ext["spec"].get("protocol") not in ("h2", "h2c"):
            errors.append(f"{where}: protocol must be h2 or h2c for gRPC")
        for s in ext["spec"].get("services", []):
            service_ref(where, s["name"], ext["metadata"]["namespace"], s["port"])
    for proxy in find("HTTPProxy"):
        where = f"HTTPProxy/{proxy['metadata']['name']}"
        vhost = proxy["spec"].get("virtualhost") or {}
        auth = vhost.get("authorization")
        if not auth:
            continue
        ref = auth.get("extensionRef") or {}
        if (ref.get("name"), ref.get("namespace", proxy["metadata"]["namespace"])) not in extensions:
            errors.append(f"{where}: extensionRef {ref} is not an ExtensionService of the examples ({sorted(extensions)})")
        if not (vhost.get("tls") or {}).get("secretName"):
            errors.append(f"{where}: authorization needs a TLS virtual host")
        if auth.get("failOpen"):
            errors.append(f"{where}: failOpen is true")
        errors += context_errors(where, (auth.get("authPolicy") or {}).get("context") or {})
        for route in proxy["spec"].get("routes", []):
            errors += context_errors(where, (route.get("authPolicy") or {}).get("context") or {})
    return errors


def load_mesh() -> dict[str, list[dict]]:
    docs = {}
    for path in sorted(glob.glob(os.path.join(MESH_DIR, "*.yaml"))):
        docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(open(path)) if d]
    return docs


def self_test(docs: dict[str, list[dict]], edge_pods: dict | None) -> list[str]:
    """Each break must be caught: the rules can fail."""
    def first(d, kind):
        return next(o for items in d.values() for o in items if o["kind"] == kind)
    breaks = {
        "the AuthorizationPolicy names another provider":
            lambda d: first(d, "AuthorizationPolicy")["spec"]["provider"].update(name="other"),
        "the SecurityPolicy calls another port":
            lambda d: first(d, "SecurityPolicy")["spec"]["extAuth"]["grpc"]["backendRefs"][0].update(port=9999),
        "the SecurityPolicy fails open":
            lambda d: first(d, "SecurityPolicy")["spec"]["extAuth"].update(failOpen=True),
        "the ReferenceGrant is missing":
            lambda d: d.update({k: [o for o in v if o["kind"] != "ReferenceGrant"] for k, v in d.items()}),
        "the patch names another policy's filter":
            lambda d: first(d, "EnvoyPatchPolicy")["spec"]["jsonPatches"][0]["operation"].update(jsonPath="..http_filters[0]"),
        "the HTTPProxy names another ExtensionService":
            lambda d: first(d, "HTTPProxy")["spec"]["virtualhost"]["authorization"]["extensionRef"].update(name="other"),
        "a route context the edge does not read":
            lambda d: first(d, "HTTPProxy")["spec"]["routes"][0]["authPolicy"]["context"].update(tessera_publik="true"),
        "a namespace rule that does not parse":
            lambda d: first(d, "HTTPProxy")["spec"]["routes"][1]["authPolicy"]["context"].update(tessera_namespace_rules="jobs {id}"),
        "a literal token":
            lambda d: first(d, "EnvoyFilter")["metadata"].update(annotations={"t": "tsr_svc_" + "a" * 40}),
    }
    if edge_pods is not None:
        breaks["the Service selects other pods"] = \
            lambda d: first(d, "Service")["spec"]["selector"].update({"app.kubernetes.io/component": "edge-line"})
    missed = []
    for what, breaking in breaks.items():
        broken = copy.deepcopy(docs)
        breaking(broken)
        if not check_mesh(broken, edge_pods):
            missed.append(f"self-test: the rules accepted a broken example ({what})")
    if not missed:
        print(f"envoy check: self-test: {len(breaks)} broken examples, each caught")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envoy", help="the envoy binary (default: .tools/bin/envoy, then PATH)")
    parser.add_argument("--helm", help="the helm binary (default: .tools/bin/helm, then PATH)")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()

    def tool(given, name):
        for candidate in (given, os.path.join(ROOT, ".tools", "bin", name), shutil.which(name)):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
        return None

    envoy, helm = tool(args.envoy, "envoy"), tool(args.helm, "helm")
    if envoy is None:
        print("envoy check: SKIPPED envoy --mode validate — NOT RUN: no envoy in .tools/bin or on PATH "
              "(scripts/install-tools.sh installs it)", file=sys.stderr)
    if helm is None:
        print("envoy check: SKIPPED the chart comparison — NOT RUN: no helm", file=sys.stderr)
    errors = check_envoy_configs(envoy)
    docs = load_mesh()
    edge_pods = chart_edge_pods(helm)
    errors += check_mesh(docs, edge_pods)
    if args.self_test:
        errors += self_test(docs, edge_pods)
    for e in errors:
        print(f"envoy check: {e}", file=sys.stderr)
    count = sum(len(items) for items in docs.values())
    print(f"envoy check: {count} mesh objects in {len(docs)} files, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
