"""Check events against OCSF's schema (ocsf-findings-schema.json, compiled from the OCSF release by OCSF's own
compiler, ocsf-lib; see subset.py): python3 check_ocsf.py EVENTS.json, where the file holds a JSON list of events.
Prints every problem, one per line, and exits 1 if there is any.

The rules are the schema's: the class by class_uid; required attributes present (those of a profile only when the
event lists the profile in metadata.profiles); no attribute the class or object lacks, none of a profile the event
does not list, none deprecated, and only profiles the schema has; each value of its data type
(through the type's base type, regex, length and range), arrays where is_array, enum values among the enum's keys
with the sibling caption matching unless the value is 99 (Other); objects recursively (the generic `object`, as in
`unmapped`, takes any attributes); the at_least_one and just_one
constraints; type_uid = class_uid * 100 + activity_id.
"""

import json
import re
import sys

SCHEMA = json.load(open(__file__.rsplit("/", 1)[0] + "/ocsf-findings-schema.json"))
INT32 = (-(2**31), 2**31 - 1)


def base_check(value, type_name, path, out):
    t = SCHEMA["types"].get(type_name)
    if t is None:
        out.append(f"{path}: unknown type {type_name}")
        return
    base = t["type"] or type_name
    if base == "string_t":
        if not isinstance(value, str):
            out.append(f"{path}: {type_name} is a string, not {value!r}")
            return
        if t.get("regex") and not re.search(t["regex"], value):
            out.append(f"{path}: {value!r} does not match {type_name}")
        if t.get("max_len") and len(value) > t["max_len"]:
            out.append(f"{path}: longer than {t['max_len']}")
    elif base in ("integer_t", "long_t"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{path}: {type_name} is an integer, not {value!r}")
        elif base == "integer_t" and not INT32[0] <= value <= INT32[1]:
            out.append(f"{path}: {value} is out of integer_t's range")
    elif base == "float_t":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            out.append(f"{path}: {type_name} is a number, not {value!r}")
    elif base == "boolean_t":
        if not isinstance(value, bool):
            out.append(f"{path}: boolean_t, not {value!r}")
    elif base == "json_t":
        pass
    else:
        out.append(f"{path}: unhandled base type {base}")
    if t.get("range") and isinstance(value, (int, float)) and not t["range"][0] <= value <= t["range"][1]:
        out.append(f"{path}: {value} outside {t['range']}")


def check_record(value, spec, path, profiles, out):
    if not isinstance(value, dict):
        out.append(f"{path}: an object, not {value!r}")
        return
    attributes = spec["attributes"]
    for name, a in attributes.items():
        applies = a.get("profile") is None or a["profile"] in profiles
        if a.get("requirement") == "required" and applies and name not in value:
            out.append(f"{path}.{name}: required")
    for name, v in value.items():
        a = attributes.get(name)
        if a is None:
            out.append(f"{path}.{name}: no such attribute")
            continue
        if a.get("profile") is not None and a["profile"] not in profiles:
            out.append(f"{path}.{name}: belongs to the {a['profile']} profile, which metadata.profiles does not list")
        if a.get("deprecated"):
            out.append(f"{path}.{name}: deprecated")
        if a.get("is_array"):
            if not isinstance(v, list):
                out.append(f"{path}.{name}: an array, not {v!r}")
                continue
            for i, item in enumerate(v):
                check_value(item, a, f"{path}.{name}[{i}]", profiles, out)
        else:
            check_value(v, a, f"{path}.{name}", profiles, out)
        if a.get("enum") and a.get("sibling") and a["sibling"] in value and isinstance(v, int) and v != 99:
            caption = a["enum"].get(str(v))
            if caption is not None and value[a["sibling"]] != caption:
                out.append(f"{path}.{a['sibling']}: {value[a['sibling']]!r} is not {name} {v}'s caption {caption!r}")
    constraints = spec.get("constraints") or {}
    if "at_least_one" in constraints and not any(k in value for k in constraints["at_least_one"]):
        out.append(f"{path}: needs at least one of {constraints['at_least_one']}")
    if "just_one" in constraints and sum(k in value for k in constraints["just_one"]) != 1:
        out.append(f"{path}: needs exactly one of {constraints['just_one']}")


def check_value(v, a, path, profiles, out):
    t = a["type"]
    if t == "object":
        # OCSF's generic object (unmapped, vendor data): any attributes.
        if not isinstance(v, dict):
            out.append(f"{path}: an object, not {v!r}")
    elif t in SCHEMA["objects"]:
        check_record(v, SCHEMA["objects"][t], path, profiles, out)
    else:
        base_check(v, t, path, out)
        if a.get("enum") and str(v) not in a["enum"]:
            out.append(f"{path}: {v!r} is not one of {sorted(a['enum'])}")


def check_event(event, i):
    out = []
    path = f"event[{i}]"
    by_uid = {c["uid"]: (name, c) for name, c in SCHEMA["classes"].items()}
    found = by_uid.get(event.get("class_uid"))
    if found is None:
        return [f"{path}: class_uid {event.get('class_uid')!r} is none of {sorted(by_uid)}"]
    name, spec = found
    profiles = set((event.get("metadata") or {}).get("profiles") or [])
    for unknown in sorted(profiles - set(SCHEMA["profiles"])):
        out.append(f"{path}.metadata.profiles: no profile {unknown!r}")
    check_record(event, spec, f"{path}({name})", profiles, out)
    if event.get("type_uid") != event.get("class_uid", 0) * 100 + event.get("activity_id", 0):
        out.append(f"{path}: type_uid is not class_uid * 100 + activity_id")
    return out


def main():
    events = json.load(open(sys.argv[1]))
    problems = [p for i, e in enumerate(events) for p in check_event(e, i)]
    for p in problems:
        print(p)
    print(f"{len(events)} events, {len(problems)} problems (OCSF {SCHEMA['version']})")
    sys.exit(1 if problems or not events else 0)


main()
