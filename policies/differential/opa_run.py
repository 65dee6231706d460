"""Runs a policy folder's tests in the real OPA, as `tollgate policy test -v DIR` runs them in
regorus: every `test_*` rule of every `.rego` file, and every case of `cases/**/*.yaml`
(`{note, query, input, want_result}`; a set or list result compared without regard to order,
`want_result: null` meaning undefined or empty). Prints one line per test, named as tollgate
names it: `NAME: PASS`, `NAME: FAIL` or `NAME: ERROR message`.

Usage: python opa_run.py DIR [LIBRARY_DIR]   (LIBRARY_DIR: the default library, loaded too
unless DIR holds it)

Used by the differential test in tests/it/policy.rs; needs `scripts/opa-env`'s venv.
"""

import json
import pathlib
import re
import sys

import yaml
from opa_bindings import OpaEngine

HEAD = re.compile(r"^(?:default\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def rego_files(root):
    return sorted(p for p in root.rglob("*.rego") if p.is_file())


def package_of(text):
    m = re.search(r"^package\s+(\S+)", text, re.M)
    return m.group(1) if m else None


def test_names(text):
    names = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t", "#", "}"):
            continue
        m = HEAD.match(line)
        if m and m.group(1).startswith("test_") and m.group(1) not in names:
            names.append(m.group(1))
    return names


def empty(v):
    return v is None or v == "<undefined>" or v == []


def same(got, want):
    if empty(got) and empty(want):
        return True
    if isinstance(got, list) and isinstance(want, list):
        key = lambda x: json.dumps(x, sort_keys=True)
        return sorted(map(key, got)) == sorted(map(key, want))
    return got == want


def main():
    root = pathlib.Path(sys.argv[1])
    library = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None
    engine = OpaEngine()
    files = rego_files(root)
    holds_library = any(re.search(r"^package tollgate\.lib\.", f.read_text(), re.M) for f in files)
    loaded = list(files)
    if library and not holds_library:
        loaded += rego_files(library)
    for f in loaded:
        engine.add_policy(str(f), f.read_text())
    for f in files:
        text = f.read_text()
        package = package_of(text)
        for name in test_names(text):
            full = f"data.{package}.{name}"
            try:
                rs = engine.eval_query(f"x := {full}")
                verdict = "PASS" if rs and rs[0].get("x") is True else "FAIL"
                print(f"{full}: {verdict}")
            except Exception as err:  # noqa: BLE001 - the verdict names it
                print(f"{full}: ERROR {str(err).splitlines()[0]}")
    for case_file in sorted((root / "cases").rglob("*.yaml")) if (root / "cases").is_dir() else []:
        for doc in yaml.safe_load_all(case_file.read_text()):
            cases = doc.get("cases", []) if isinstance(doc, dict) else (doc or [])
            for case in cases:
                name = f"{case['query']} ({case['note']})"
                try:
                    rs = engine.eval_query(f"x := {case['query']}", case.get("input"))
                    got = rs[0].get("x") if rs else None
                    print(f"{name}: {'PASS' if same(got, case.get('want_result')) else 'FAIL'}")
                except Exception as err:  # noqa: BLE001
                    print(f"{name}: ERROR {str(err).splitlines()[0]}")


if __name__ == "__main__":
    main()
