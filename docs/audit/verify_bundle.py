#!/usr/bin/env python3
"""Check a tollgate audit bundle offline, with the Python standard library only.

    python3 verify_bundle.py BUNDLE_DIR [--trusted-key NAME+ID+BASE64 ...]

Exit status: 0 the bundle verifies, 1 it does not (the first problem is printed), 2 the bundle
could not be read or the command was misused.

It checks what `tollgate audit verify-bundle` checks, independently of tollgate's code:
  1. every file matches the sha256 in manifest.json;
  2. the checkpoint is a C2SP signed note with a valid Ed25519 signature by a trusted key
     (the keys given with --trusted-key, else the keys listed in the manifest, which is reported);
  3. events.jsonl chains: hash = SHA-256(prev_hash || line), seq increases by one from the
     manifest's first_seq and prev_hash, every time lies inside the period;
  4. events.csv mirrors events.jsonl;
  5. the last event's Merkle leaf SHA-256(0x00 || prev_hash || line) is included in the signed
     tree (RFC 6962), which pins every event before it through the chain;
  6. the previous checkpoint is consistent with the covering one;
  7. every record (decisions, approvals, ...) equals the payload of the event that recorded it.
"""

import base64
import csv
import hashlib
import json
import os
import sys

FORMAT = "tollgate-audit-bundle/1"
RECORD_FILES = {
    "releases.jsonl": "release.recorded",
    "decisions.jsonl": "decision.recorded",
    "approvals.jsonl": "approval.recorded",
    "gate_results.jsonl": "gate_result.recorded",
    "promotions.jsonl": "promotion.recorded",
    "model_cards.jsonl": "model_card.recorded",
}


class Failed(Exception):
    """The bundle does not verify."""


# --- Ed25519 verification (RFC 8032, section 5.1.7), pure Python -----------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(p, q):
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


_GY = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _L
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# --- C2SP signed notes and checkpoints ---------------------------------------------------------

def parse_verifier(text):
    name, key_id, data = text.strip().split("+", 2)
    raw = base64.b64decode(data, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("not an Ed25519 verifier key")
    want = hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4]
    if want.hex() != key_id:
        raise ValueError("key id does not match the key")
    return (name, int(key_id, 16), raw[1:])


def open_checkpoint(note, keys):
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise Failed("checkpoint note is malformed")
    body += "\n"
    trusted = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Failed("checkpoint signature line is malformed")
        name, _, blob = line[2:].partition(" ")
        blob = base64.b64decode(blob)
        if len(blob) != 68:
            continue
        key_id = int.from_bytes(blob[:4], "big")
        for (kname, kid, public) in keys:
            if kname == name and kid == key_id and ed25519_verify(public, body.encode(), blob[4:]):
                trusted = True
    if not trusted:
        raise Failed("checkpoint is not validly signed by a trusted key")
    lines = body[:-1].split("\n")
    if len(lines) != 5 or not lines[3].startswith("chain ") or not lines[4].startswith("time "):
        raise Failed("checkpoint body is malformed")
    if not lines[1].isdigit() or (len(lines[1]) > 1 and lines[1][0] == "0"):
        raise Failed("checkpoint size is malformed")
    root = base64.b64decode(lines[2], validate=True)
    chain = base64.b64decode(lines[3][6:], validate=True)
    if len(root) != 32 or len(chain) != 32:
        raise Failed("checkpoint hashes are malformed")
    return {"origin": lines[0], "size": int(lines[1]), "root": root, "chain": chain}


# --- RFC 6962 / 9162 Merkle proofs -------------------------------------------------------------

def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def _inner_len(index, size):
    return (index ^ (size - 1)).bit_length()


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        raise Failed("inclusion proof: index outside the tree")
    inner = _inner_len(index, size)
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise Failed("inclusion proof has the wrong length")
    h = leaf
    for i, p in enumerate(proof[:inner]):
        h = node(h, p) if (index >> i) & 1 == 0 else node(p, h)
    for p in proof[inner:]:
        h = node(p, h)
    if h != root:
        raise Failed("inclusion proof does not lead to the signed root")


def verify_consistency(size1, size2, proof, root1, root2):
    if size2 < size1 or size1 == 0:
        raise Failed("consistency proof: bad sizes")
    if size1 == size2:
        if proof or root1 != root2:
            raise Failed("consistency proof does not hold")
        return
    if not proof:
        raise Failed("consistency proof is empty")
    inner = _inner_len(size1 - 1, size2)
    border = bin((size1 - 1) >> inner).count("1")
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise Failed("consistency proof has the wrong length")
    proof = proof[start:]
    mask = (size1 - 1) >> shift
    h1 = seed
    for i, p in enumerate(proof[:inner]):
        if (mask >> i) & 1:
            h1 = node(p, h1)
    h2 = seed
    for i, p in enumerate(proof[:inner]):
        h2 = node(h2, p) if (mask >> i) & 1 == 0 else node(p, h2)
    for p in proof[inner:]:
        h1 = node(p, h1)
        h2 = node(p, h2)
    if h1 != root1 or h2 != root2:
        raise Failed("consistency proof does not hold")


# --- The bundle ----------------------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class RecordCursors:
    """One reader per records file, each positioned at its next record."""

    def __init__(self, bundle, files):
        self.cursors = []
        self.matched = 0
        for name, action in RECORD_FILES.items():
            if name in files:
                cursor = {"name": name, "action": action, "file": open(os.path.join(bundle, name), "rb"),
                          "line": 0, "next": None}
                self._advance(cursor)
                self.cursors.append(cursor)

    def _advance(self, c):
        raw = c["file"].readline()
        if not raw:
            c["next"] = None
            return
        c["line"] += 1
        rec = json.loads(raw)
        if not isinstance(rec.get("audit_seq"), int):
            raise Failed("%s line %d is not recorded by a matching audit event" % (c["name"], c["line"]))
        c["next"] = rec

    def event(self, seq, event):
        for c in self.cursors:
            rec = c["next"]
            if rec is None:
                continue
            if rec["audit_seq"] < seq or (rec["audit_seq"] == seq and
                                           (event["action"] != c["action"] or event["payload"] != rec.get("doc"))):
                raise Failed("%s line %d is not recorded by a matching audit event" % (c["name"], c["line"]))
            if rec["audit_seq"] == seq:
                self.matched += 1
                self._advance(c)

    def finish(self):
        for c in self.cursors:
            if c["next"] is not None:
                raise Failed("%s line %d is not recorded by a matching audit event" % (c["name"], c["line"]))
            c["file"].close()
        return self.matched


def verify(bundle, trusted_texts):
    with open(os.path.join(bundle, "manifest.json"), "rb") as f:
        m = json.load(f)
    if m.get("format") != FORMAT:
        raise Failed("unknown bundle format")
    files = m["files"]
    for required in ("events.jsonl", "events.csv", "report.html"):
        if required not in files:
            raise Failed("manifest does not list %s" % required)
    for name, entry in files.items():
        if "/" in name or "\\" in name or name.startswith("."):
            raise Failed("a file name leaves the bundle")
        if sha256_file(os.path.join(bundle, name)) != entry["sha256"]:
            raise Failed("file %s does not match its sha256" % name)

    keys = [parse_verifier(t) for t in trusted_texts]
    independent = bool(keys)
    if not keys:
        keys = [parse_verifier(t) for t in m.get("public_keys", [])]
    cp = open_checkpoint(m["checkpoint"]["note"], keys) if m.get("checkpoint") else None
    prev_cp = open_checkpoint(m["previous_checkpoint"]["note"], keys) if m.get("previous_checkpoint") else None

    ev = m["events"]
    count = ev["count"]
    seq = ev["first_seq"] or 1
    prev = bytes.fromhex(ev["prev_hash"])
    start, end = m["period"]["from"], m["period"]["to"]
    # Records are matched to their events by a merge join: each records file is in audit_seq
    # order, like the events, so memory stays constant however long the bundle is.
    cursors = RecordCursors(bundle, files)
    last = None
    n = 0
    with open(os.path.join(bundle, "events.jsonl"), "rb") as f, \
            open(os.path.join(bundle, "events.csv"), newline="", encoding="utf-8") as c:
        rows = csv.reader(c)
        if next(rows, None) != ["seq", "time", "actor", "action", "subject", "prev_hash", "hash", "payload"]:
            raise Failed("events.csv header is wrong")
        for line in f:
            if not line.endswith(b"\n"):
                raise Failed("events.jsonl does not end with a newline")
            body = line[:-1]
            event = json.loads(body)
            if event.get("seq") != seq or event.get("v") != 1:
                raise Failed("events.jsonl line %d: expected event %d" % (n + 1, seq))
            if not (start <= event["time"] <= end):
                raise Failed("event %d lies outside the period" % seq)
            h = hashlib.sha256(prev + body).digest()
            row = next(rows, None)
            # The payload column is the payload's canonical text, cut from the canonical body:
            # quotes inside JSON strings are escaped, so these are the top-level members.
            try:
                payload = body[body.index(b'"payload":') + 10:body.rindex(b',"seq":')].decode("utf-8")
            except ValueError:
                raise Failed("events.jsonl line %d is not a canonical event" % (n + 1))
            want = [str(seq), event["time"], event["actor"], event["action"], event["subject"], prev.hex(), h.hex(), payload]
            if row is None or row != want:
                raise Failed("events.csv row %d differs from events.jsonl" % (n + 1))
            cursors.event(seq, event)
            last = (prev, body)
            prev = h
            seq += 1
            n += 1
        if next(rows, None) is not None:
            raise Failed("events.csv has more rows than events.jsonl")
    if n != count:
        raise Failed("events.jsonl holds %d events, the manifest says %d" % (n, count))

    if last is not None:
        if cp is None:
            raise Failed("events but no checkpoint")
        inc = m["proofs"]["inclusion"]
        if inc["leaf_index"] != seq - 2 or inc["tree_size"] != cp["size"]:
            raise Failed("inclusion proof is for another leaf or tree")
        leaf = hashlib.sha256(b"\x00" + last[0] + last[1]).digest()
        verify_inclusion(inc["leaf_index"], cp["size"], leaf, [base64.b64decode(x) for x in inc["hashes"]], cp["root"])
    if cp is not None and prev_cp is not None:
        con = m["proofs"]["consistency"]
        if con["size1"] != prev_cp["size"] or con["size2"] != cp["size"]:
            raise Failed("consistency proof is for other sizes")
        verify_consistency(prev_cp["size"], cp["size"], [base64.b64decode(x) for x in con["hashes"]],
                           prev_cp["root"], cp["root"])

    records = cursors.finish()
    return n, records, (cp["size"] if cp else 0), independent


def main(argv):
    args, keys = [], []
    it = iter(argv[1:])
    for a in it:
        if a == "--trusted-key":
            keys.append(next(it, ""))
        elif a.startswith("--trusted-key="):
            keys.append(a.split("=", 1)[1])
        else:
            args.append(a)
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        events, records, size, independent = verify(args[0], keys)
    except Failed as e:
        print("FAILED: %s" % e)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("error: cannot read the bundle: %r" % (e,), file=sys.stderr)
        return 2
    print("ok: %d events and %d records verified against checkpoint %d" % (events, records, size))
    if not independent:
        print("note: checked against the keys listed in the bundle itself; pass --trusted-key to use a key you trust")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
