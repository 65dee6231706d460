"""Generates mutations of the example documents and writes them as YAML policy cases whose
`want_result` is what the real OPA answers, so that `tollgate policy test` over them says where
regorus disagrees (issue #12 item 8).

Usage: python mutate.py EXAMPLES_DIR LIBRARY_DIR OUT_DIR [LIMIT]

Each document of the example config repo (by `kind`), each Kubernetes manifest and each
Terraform plan is mutated one leaf at a time: removed, or replaced by a value of another type
or an edge value (null, "", 0, -1, 1.5, an integer past 2^53, lower-case and leap-second RFC 3339
times, non-ASCII case, empty containers). For every mutation, the library package of the document's
kind is evaluated (`deny` and `warn`) in OPA; the cases go to OUT_DIR/cases/mutations.yaml
beside an empty policy file, so that `tollgate policy test OUT_DIR` runs them with the default
library. Deterministic: the same examples give the same cases.
"""

import copy
import json
import pathlib
import sys

import yaml
from opa_bindings import OpaEngine, OpaError

# Integers past 2^64 are left out: tollgate's loader reads them as floats where OPA keeps them
# exact, a difference of the loader that policies/README.md documents ("keep such numbers as
# strings"), not of the library.
EDGES = [None, "", 0, -1, 1.5, 9007199254740993, "2026-12-24t18:00:00z", "2026-12-24T18:00:60Z", "İSTANBUL", [], {}, True]


def documents(examples):
    """(package, document) of every example document the library has rules for."""
    out = []
    for path in sorted(examples.rglob("*.yaml")):
        rel = path.relative_to(examples)
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            kind = doc.get("kind", "")
            if rel.parts[0] == "k8s":
                out.append(("kubernetes", doc))
            elif kind in ("Model", "Dataset", "Release", "Environment", "Config", "Promotion"):
                out.append((kind.lower(), doc))
    for path in sorted(examples.rglob("plan.json")):
        out.append(("terraform", json.loads(path.read_text())))
    return out


def leaves(value, path=()):
    if isinstance(value, dict):
        for k in sorted(value):
            yield from leaves(value[k], path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, path + (i,))
    if path:
        yield path


def mutations(doc):
    for path in leaves(doc):
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        last = path[-1]
        if isinstance(parent, dict):
            m = copy.deepcopy(doc)
            target = m
            for p in path[:-1]:
                target = target[p]
            del target[last]
            yield m
        for edge in EDGES:
            if parent[last] == edge and type(parent[last]) is type(edge):
                continue
            m = copy.deepcopy(doc)
            target = m
            for p in path[:-1]:
                target = target[p]
            target[last] = copy.deepcopy(edge)
            yield m


def main():
    examples, library, out = (pathlib.Path(a) for a in sys.argv[1:4])
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else 1500
    engine = OpaEngine()
    for f in sorted(library.rglob("*.rego")):
        if not f.name.endswith("_test.rego"):
            engine.add_policy(str(f), f.read_text())
    docs = documents(examples)
    # An even sample of each document's mutations, `limit` in all.
    sample = []
    for pkg, doc in docs:
        ms = list(mutations(doc))
        step = max(1, len(ms) // max(1, limit // len(docs)))
        sample.extend((pkg, m) for m in ms[::step][: max(1, limit // len(docs))])
    # The rules each library package defines (a rule it does not define is an error in
    # tollgate, undefined in OPA: not a difference worth a case).
    defined = {}
    for f in library.glob("*.rego"):
        if not f.name.endswith("_test.rego"):
            text = f.read_text()
            defined[f.stem] = {r for r in ("deny", "warn") if f"\n{r} contains" in text}
    cases = []
    failures = []
    for n, (pkg, m) in enumerate(sample):
        for rule in sorted(defined.get(pkg, ())):
            query = f"data.tollgate.lib.{pkg}.{rule}"
            try:
                rs = engine.eval_query(f"x := {query}", m)
            except OpaError as err:
                # OPA reports builtin errors: the library must hold under strict builtin errors.
                failures.append(f"{query} on mutation {n}: {err}")
                continue
            got = rs[0].get("x") if rs else None
            cases.append({"note": f"mutation {n} of a {pkg} document", "query": query, "input": m, "want_result": got})
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    (out / "noop.rego").write_text("package tollgate.differential\n")
    # Files of 100 cases: each stays under tollgate's 4 MiB YAML limit (plans are large).
    for i in range(0, len(cases), 100):
        (out / "cases" / f"mutations-{i // 100:03}.yaml").write_text(yaml.safe_dump(cases[i : i + 100], sort_keys=True, allow_unicode=True))
    print(len(cases))


if __name__ == "__main__":
    main()
