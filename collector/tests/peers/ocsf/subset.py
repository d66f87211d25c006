"""Cut OCSF's compiled schema down to what the collector's OCSF output uses, for check_ocsf.py.

Run from a checkout of github.com/ocsf/ocsf-schema at the release named in version.json, with ocsf-lib (PyPI):

    python -m ocsf.compile /path/to/ocsf-schema > /tmp/ocsf.json
    python subset.py /tmp/ocsf.json > ocsf-findings-schema.json

It keeps the Vulnerability Finding and Compliance Finding classes and the Base Event (a test send), every object they reach and the data types, with
what validation needs (types, requirements, arrays, enum values and captions, profiles, siblings, constraints) and
drops the descriptions.
"""

import json
import sys

CLASSES = ["vulnerability_finding", "compliance_finding", "base_event"]
ATTRIBUTE_KEYS = ["type", "object_type", "requirement", "is_array", "profile", "sibling"]


def attrs(attributes):
    out = {}
    for name, a in attributes.items():
        kept = {k: a[k] for k in ATTRIBUTE_KEYS if a.get(k) is not None}
        if a.get("@deprecated"):
            kept["deprecated"] = True
        if a.get("enum"):
            kept["enum"] = {k: v.get("caption") for k, v in a["enum"].items()}
        out[name] = kept
    return out


def main():
    schema = json.load(open(sys.argv[1]))
    objects = schema["objects"]
    kept_classes = {}
    todo = []
    for name in CLASSES:
        c = schema["classes"][name]
        kept_classes[name] = {"uid": c["uid"], "attributes": attrs(c["attributes"]),
                              "constraints": c.get("constraints") or {}}
        todo.extend(a["type"] for a in c["attributes"].values())
    kept_objects = {}
    while todo:
        t = todo.pop()
        if t in objects and t not in kept_objects:
            o = objects[t]
            kept_objects[t] = {"attributes": attrs(o["attributes"]), "constraints": o.get("constraints") or {}}
            todo.extend(a["type"] for a in o["attributes"].values())
    types = {name: {k: v for k, v in t.items() if k in ("type", "regex", "max_len", "range", "values")}
             for name, t in schema["types"].items()}
    profiles = sorted(schema["profiles"])
    json.dump({"version": schema["version"], "classes": kept_classes, "objects": kept_objects, "types": types,
               "profiles": profiles},
              sys.stdout, indent=1, sort_keys=True)


main()
