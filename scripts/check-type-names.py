#!/usr/bin/env python3
"""Every type name means one thing in the whole workspace: no struct, enum, trait, union or type
alias is defined in two crates' production code, except the pairs listed below, each with its
reason. Test code (tests/, tests.rs, #[cfg(test)] modules) and associated types are not counted.

Usage: scripts/check-type-names.py   (exit 1 and a list when a name is defined twice)
"""
import os
import re
import sys
from collections import defaultdict

# name -> (crates allowed to define it, why)
EXCEPTIONS = {
    # The Rust SDK's public types mirror the store's rows and the domain's types field for field,
    # in wire terms: the client must not import the store or the crypto crate (tests/e2e/layers.rs).
    "AuditEvent": ({"tessera-client", "tessera-store"}, "SDK type mirroring the stored audit row"),
    "FeedPosition": ({"tessera-client", "tessera-store"}, "SDK type mirroring the feed position"),
    "NewUser": ({"tessera-client", "tessera-store"}, "SDK request mirroring the stored account"),
    "Revocation": ({"tessera-client", "tessera-store"}, "SDK type mirroring a feed entry"),
    "RevocationFeed": ({"tessera-client", "tessera-store"}, "SDK stream mirroring the feed"),
    "RevokeTarget": ({"tessera-client", "tessera-store"}, "SDK request mirroring a revoke target"),
    "TokenInfo": ({"tessera-client", "tessera-store"}, "SDK type mirroring the stored token row"),
    "UserSummary": ({"tessera-client", "tessera-store"}, "SDK type mirroring the stored account"),
    "IssuedToken": ({"tessera-client", "tessera-server"}, "SDK answer mirroring the use case's"),
    "TotpEnrollment": ({"tessera-client", "tessera-server"}, "SDK answer mirroring the use case's"),
    "Jwks": ({"tessera-client", "tessera-core"}, "SDK view of the key set; core holds the keys"),
    # Every binary's own command line and settings, each private to its binary.
    "Cli": ({"tessera-cli", "tessera-edge-http", "tessera-edge-line"}, "each binary's clap root"),
    "Settings": ({"tessera-edge-http", "tessera-edge-line"}, "each edge binary's validated flags"),
}

PATTERN = re.compile(
    r"^(?P<indent>\s*)(?P<pub>pub(?:\([^)]*\))?\s+)?(?P<kind>struct|enum|trait|union|type)\s+"
    r"(?P<name>[A-Z][A-Za-z0-9_]*)",
    re.M,
)


def production_source(path):
    text = open(path, encoding="utf-8").read()
    # Drop unit-test modules: everything from `#[cfg(test)]` followed by a `mod`.
    return re.split(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*[{;]", text)[0]


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")
    defined = defaultdict(set)
    for crate in sorted(os.listdir(root)):
        src = os.path.join(root, crate, "src")
        for folder, _, files in os.walk(src):
            for name in files:
                if not name.endswith(".rs") or name == "tests.rs":
                    continue
                for match in PATTERN.finditer(production_source(os.path.join(folder, name))):
                    # An indented `type X = …` without `pub` is an associated type of an impl.
                    if match["kind"] == "type" and match["indent"] and not match["pub"]:
                        continue
                    defined[match["name"]].add(crate)
    problems = []
    for name, crates in sorted(defined.items()):
        if len(crates) < 2:
            continue
        allowed, _ = EXCEPTIONS.get(name, (set(), ""))
        if not crates <= allowed:
            problems.append(f"{name}: defined in {', '.join(sorted(crates))}")
    stale = [n for n in EXCEPTIONS if len(defined.get(n, ())) < 2]
    for name in stale:
        problems.append(f"{name}: listed as an exception but no longer defined twice")
    if problems:
        print("type names defined in more than one crate (rename, or list with a reason):")
        print("\n".join(f"  {p}" for p in problems))
        return 1
    print(f"type names: {len(defined)} names, each defined once (or listed: {len(EXCEPTIONS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
