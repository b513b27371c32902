#!/usr/bin/env python3
"""Strict checker for the Prometheus text exposition format (version 0.0.4).

    prom_check.py FILE                      validate; exit 1 with reasons
    prom_check.py FILE --sum NAME [L=V ...] validate, then print the sum of
                                            the samples of NAME whose labels
                                            include every L=V given

Checks what node_exporter's textfile collector and Prometheus insist on,
and a little more: every line parses (comments, HELP, TYPE, samples with
optional timestamp); metric and label names are well formed and no label is
repeated; label values are properly quoted and escaped; values parse as Go
floats; a family's TYPE comes before its samples, HELP and TYPE appear once,
and a family's samples are contiguous; no series appears twice; counters
are non-negative; histograms have cumulative buckets in increasing "le"
order ending with le="+Inf", and _count equal to that bucket and a _sum,
for every label set.
"""

import math
import re
import sys

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|inf|NaN|nan)")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_float(s):
    if not FLOAT_RE.fullmatch(s):
        raise Bad("value %r is not a float" % s)
    return float(s)


def parse_labels(s, i):
    """Parse '{a="b",...}' starting at s[i] == '{'; return (labels, next)."""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL_RE.match(s, i)
        if not m:
            raise Bad("bad label name at column %d" % (i + 1))
        name = m.group(0)
        if name.startswith("__"):
            raise Bad("label name %r is reserved" % name)
        if name in labels:
            raise Bad("label %r repeated" % name)
        i = m.end()
        if s[i:i + 2] != '="':
            raise Bad("expected =\" after label %r" % name)
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise Bad("unterminated label value")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise Bad("bad escape \\%s in label value" % nxt)
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        labels[name] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] == "}":
            pass
        else:
            raise Bad("expected , or } after label %r" % name)


def family_of(name, types):
    """The family a sample belongs to (histogram/summary suffixes)."""
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf):
            base = name[: -len(suf)]
            if types.get(base) in ("histogram", "summary"):
                if suf == "_bucket" and types[base] != "histogram":
                    continue
                return base
    return name


def check(text):
    """Return (samples, errors); samples are (name, labels, value)."""
    errors = []
    samples = []
    types = {}
    helps = set()
    seen_series = set()
    started = set()  # families that have had samples
    closed = set()   # families whose samples are finished
    current = None
    if text and not text.endswith("\n"):
        errors.append("file does not end with a newline")
    for no, line in enumerate(text.split("\n")[:-1] if text.endswith("\n")
                              else text.split("\n"), 1):
        try:
            if line.strip() == "":
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                    if len(parts) < 3 or not NAME_RE.fullmatch(parts[2]):
                        raise Bad("%s without a valid metric name" % parts[1])
                    name = parts[2]
                    if name in started:
                        raise Bad("%s for %s after its samples" %
                                  (parts[1], name))
                    if parts[1] == "HELP":
                        if name in helps:
                            raise Bad("second HELP for %s" % name)
                        helps.add(name)
                    else:
                        if len(parts) != 4 or parts[3] not in TYPES:
                            raise Bad("bad TYPE line")
                        if name in types:
                            raise Bad("second TYPE for %s" % name)
                        types[name] = parts[3]
                continue
            m = NAME_RE.match(line)
            if not m:
                raise Bad("bad metric name")
            name = m.group(0)
            i = m.end()
            labels = {}
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            rest = line[i:]
            if not rest.startswith(" "):
                raise Bad("expected a space before the value")
            fields = rest.split()
            if len(fields) not in (1, 2) or rest != " " + " ".join(fields):
                raise Bad("expected VALUE [TIMESTAMP] separated by one space")
            value = parse_float(fields[0])
            if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
                raise Bad("timestamp %r is not an integer" % fields[1])
            fam = family_of(name, types)
            if fam != current:
                if fam in closed:
                    raise Bad("samples of %s are not contiguous" % fam)
                if current is not None:
                    closed.add(current)
                current = fam
            started.add(fam)
            if fam not in types:
                raise Bad("sample of %s before (or without) its TYPE" % fam)
            key = (name, tuple(sorted(labels.items())))
            if key in seen_series:
                raise Bad("series %s%s repeated" % (name, labels))
            seen_series.add(key)
            t = types[fam]
            if t == "counter" and not (value >= 0):
                raise Bad("counter %s is negative or NaN" % name)
            if t == "histogram" and name == fam + "_bucket":
                if "le" not in labels:
                    raise Bad("histogram bucket without le")
                parse_float(labels["le"])
            if t == "histogram" and name == fam:
                raise Bad("histogram %s has a bare sample" % fam)
            samples.append((name, labels, value))
        except Bad as e:
            errors.append("line %d: %s: %s" % (no, e, line))
    errors += check_histograms(samples, types)
    return samples, errors


def check_histograms(samples, types):
    errors = []
    hists = {}
    for name, labels, value in samples:
        fam = family_of(name, types)
        if types.get(fam) != "histogram":
            continue
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        h = hists.setdefault((fam, rest),
                             {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            h["buckets"].append((parse_float(labels["le"]), value))
        elif name.endswith("_sum"):
            h["sum"] = value
        else:
            h["count"] = value
    for (fam, rest), h in hists.items():
        where = "%s%s" % (fam, dict(rest))
        b = h["buckets"]
        if not b:
            errors.append("%s: no buckets" % where)
            continue
        les = [le for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            errors.append("%s: le not strictly increasing" % where)
        if not math.isinf(les[-1]) or les[-1] < 0:
            errors.append("%s: last bucket is not le=\"+Inf\"" % where)
        counts = [v for _, v in b]
        if any(a > c for a, c in zip(counts, counts[1:])):
            errors.append("%s: buckets are not cumulative" % where)
        if h["count"] is None or h["sum"] is None:
            errors.append("%s: missing _sum or _count" % where)
        elif h["count"] != counts[-1]:
            errors.append("%s: _count %g != +Inf bucket %g" %
                          (where, h["count"], counts[-1]))
    return errors


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    samples, errors = check(text)
    for e in errors:
        sys.stderr.write("%s: %s\n" % (sys.argv[1], e))
    if errors:
        return 1
    if len(sys.argv) >= 4 and sys.argv[2] == "--sum":
        want = dict(a.split("=", 1) for a in sys.argv[4:])
        found = [v for n, l, v in samples if n == sys.argv[3] and
                 all(l.get(k) == v for k, v in want.items())]
        if not found:
            sys.stderr.write("%s: no sample of %s%s\n" %
                             (sys.argv[1], sys.argv[3], want))
            return 1
        total = sum(found)
        print(int(total) if total == int(total) else total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
