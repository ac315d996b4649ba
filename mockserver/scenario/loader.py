"""Load scenario YAML: safe parse with positions → JSON Schema → semantic checks → model.

Every problem is reported as ``file:line:col: what is wrong; what was expected``,
with "did you mean" for misspelt keys and values. Only safe YAML is accepted
(``yaml.compose`` with the SafeLoader: no tags that build objects).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterator, Mapping, Set
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..apis.registry import APIS, check_fault
from ..core.clock import MAX_INSTANT, MIN_INSTANT, parse_instant
from ..core.durations import DURATION_PATTERN, parse_duration
from ..core.errors import ScenarioError
from ..faults.model import FaultSpec
from .model import ACTIONS, ApiSettings, ClockSettings, Scenario, Step
from .schema import scenario_schema

__all__ = ["builtin_dir", "builtin_scenarios", "load_builtin", "load_scenario", "resolve_scenario", "scenario_from_yaml"]

Path_ = tuple[Any, ...]
_VALIDATOR = Draft202012Validator(scenario_schema())


# -- YAML with positions -------------------------------------------------------
class _Positions:
    def __init__(self) -> None:
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}

    def at(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))


#: libyaml when PyYAML has it (a third of a scenario's load time), else the pure-Python parser; both safe
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
#: Aliases can make a few hundred bytes expand into billions of nodes: stop long before.
MAX_NODES = 200_000
#: No scenario nests anywhere near this deep; far deeper would exhaust Python's stack in PyYAML's composer.
MAX_DEPTH = 100


def _too_deep(line: int, column: int) -> ScenarioError:
    return ScenarioError("too deep", [f"{{file}}:{line}:{column}: nested more than {MAX_DEPTH} levels deep; expected a plain scenario"])


def _build(node: yaml.Node, path: Path_, positions: _Positions, constructor: yaml.constructor.SafeConstructor) -> Any:
    positions.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if len(path) > MAX_DEPTH:
        raise _too_deep(node.start_mark.line + 1, node.start_mark.column + 1)
    if len(positions.values) > MAX_NODES:
        where = f"{{file}}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
        raise ScenarioError(
            "too large", [f"{where}: the scenario expands to more than {MAX_NODES} values (aliases?); expected a plain, smaller file"]
        )
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        where = f"{{file}}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
        raise ScenarioError("unsupported YAML tag", [f"{where}: unsupported YAML tag {node.tag!r}; only plain YAML is accepted"])
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                where = f"{{file}}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}"
                raise ScenarioError("merge key", [f"{where}: YAML merge keys (<<) are not supported; expected the keys written out"])
            key = _build(key_node, (*path, "<key>"), positions, constructor)
            if isinstance(key, (list, dict)):
                raise ScenarioError(
                    "a mapping key must be a scalar",
                    [f"{{file}}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}: a mapping key must be a scalar"],
                )
            positions.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                raise ScenarioError(
                    "duplicate key", [f"{{file}}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}: duplicate key {key!r}"]
                )
            result[key] = _build(value_node, (*path, key), positions, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), positions, constructor) for i, item in enumerate(node.value)]
    try:
        return constructor.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # a scalar its tag cannot hold: PyYAML's timestamp 2026-13-45, say
        where = f"{{file}}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
        raise ScenarioError(
            "not valid YAML", [f"{where}: not valid YAML: {node.value!r} is no {node.tag.rsplit(':', 1)[-1]} ({exc})"]
        ) from None


def _position(text: str, index: int) -> tuple[int, int]:
    """The line and column (from 1) of character ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _deepest(text: str) -> tuple[int, int]:
    """Where ``text`` first nests more than :data:`MAX_DEPTH` collections deep (line, column; 1:1 if it does not)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            mark = event.start_mark
            if depth > MAX_DEPTH + 1 and mark is not None:  # as _build counts: the top-level mapping is depth 0
                return mark.line + 1, mark.column + 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return 1, 1


def _compose(text: str) -> yaml.Node | None:
    """The document's node graph: libyaml for speed; on an error, the pure parser's clearer message and position."""
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError:
        if _LOADER is yaml.SafeLoader:
            raise
        return yaml.compose(text, Loader=yaml.SafeLoader)  # raises its own error, with its wording


def _parse(text: str, source: str) -> tuple[Any, _Positions]:
    positions = _Positions()
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ScenarioError(f"{where}: not valid YAML: {exc.problem}", [f"{where}: not valid YAML: {exc.problem}"]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character, say): no mark, a position
        line, column = _position(text, exc.position)
        where = f"{source}:{line}:{column}"
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        problem = f"{where}: not valid YAML: the character {character} is not allowed"
        raise ScenarioError(problem, [problem]) from None
    except RecursionError:  # PyYAML's composer recurses per level: find where the nesting got too deep, with its parser (no recursion)
        line, column = _deepest(text)
        error = _too_deep(line, column)
        raise ScenarioError(str(error).replace("{file}", source), [p.replace("{file}", source) for p in error.problems]) from None
    if node is None:
        raise ScenarioError(f"{source}:1:1: empty file; expected a scenario mapping")
    constructor = yaml.constructor.SafeConstructor()
    try:
        data = _build(node, (), positions, constructor)
    except ScenarioError as exc:
        raise ScenarioError(str(exc).replace("{file}", source), [p.replace("{file}", source) for p in exc.problems]) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ScenarioError(f"{where}: {exc.problem}") from None
    return data, positions


# -- error messages ------------------------------------------------------------
def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _path_text(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the scenario"


_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_json_type(instance: Any, name: Any) -> bool:
    if name in ("number", "integer"):
        return isinstance(instance, (int, float)) and not isinstance(instance, bool) and (name == "number" or float(instance).is_integer())
    kind = _JSON_TYPES.get(str(name))
    return kind is not None and isinstance(instance, kind) and not (kind is not bool and isinstance(instance, bool) and name != "boolean")


def _branch_for(error: ValidationError) -> list[ValidationError] | None:
    """Of a oneOf/anyOf, the errors of the one branch the value's type is meant for (a mapping: the object branch)."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]) if sub.schema_path else -1, []).append(sub)
    alternatives = error.validator_value if isinstance(error.validator_value, list) else []
    meant = [
        index
        for index, branch in enumerate(alternatives)
        if isinstance(branch, dict) and "type" in branch and _is_json_type(error.instance, branch["type"]) and index in branches
    ]
    return branches[meant[0]] if len(meant) == 1 else None


def _describe(error: ValidationError, base: Path_, positions: _Positions, source: str) -> Iterator[str]:
    path = (*base, *error.absolute_path)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    expected: Any = error.validator_value
    where = _path_text(path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted((schema.get("properties") or {}).keys())
        for key in error.instance:
            if key not in allowed:
                line, col = positions.at((*path, key), key=True)
                expected = f"expected one of: {', '.join(allowed)}" if allowed else "no keys are allowed here"
                yield f"{source}:{line}:{col}: unknown key {key!r} in {where}; {expected}{_suggest(str(key), allowed)}"
        return
    durations = error.validator in ("oneOf", "anyOf") and any(
        isinstance(b, dict) and b.get("pattern") == DURATION_PATTERN for b in expected
    )
    if error.validator in ("oneOf", "anyOf") and not durations:
        branch = _branch_for(error)
        if branch is not None:  # say what is wrong inside the branch the value is meant for, where it is wrong
            for sub in sorted(branch, key=lambda e: positions.at((*base, *e.absolute_path))):
                yield from _describe(sub, base, positions, source)  # a sub-error's absolute_path runs from the root
            return
    line, col = positions.at(path)
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else str(error.message)
        present = ", ".join(str(k) for k in error.instance) if isinstance(error.instance, dict) and error.instance else "none"
        yield f"{source}:{line}:{col}: {where}: {missing!r} is missing (keys here: {present})"
    elif error.validator == "enum":
        choices = [str(c) for c in expected]
        yield f"{source}:{line}:{col}: {where}: {error.instance!r} is not allowed; expected one of: {', '.join(choices)}{_suggest(str(error.instance), choices)}"
    elif error.validator == "oneOf" or error.validator == "anyOf":
        # report the most relevant branch, e.g. a duration that is neither number nor pattern
        described = schema.get("description")
        if any(branch.get("pattern") == DURATION_PATTERN for branch in expected):
            yield f"{source}:{line}:{col}: {where}: {error.instance!r} is not a duration; expected seconds, or a string like 500ms, 10s, 5m, 1h30m, 2d"
        elif described:
            yield f"{source}:{line}:{col}: {where}: {error.instance!r} is not valid; expected {described}"
        else:
            kinds = [s.get("type", "value") for s in expected]
            yield f"{source}:{line}:{col}: {where}: {error.instance!r} is not valid; expected one of: {', '.join(map(str, kinds))}"
    elif error.validator == "pattern":
        described = schema.get("description")
        form = f"{described} ({expected})" if described else f"the form {expected}"
        yield f"{source}:{line}:{col}: {where}: {error.instance!r} is not valid; expected {form}"
    elif error.validator == "type":
        yield f"{source}:{line}:{col}: {where}: expected {expected}, got {type(error.instance).__name__} {error.instance!r}"
    else:
        yield f"{source}:{line}:{col}: {where}: {error.message}"


def _misspelt(error: ValidationError) -> bool:
    """A missing required key that an unknown key beside it is a misspelling of (that key's problem says so)."""
    if error.validator != "required" or not isinstance(error.instance, dict):
        return False
    missing = str(error.message).split("'")[1] if "'" in str(error.message) else ""
    known = set((error.schema.get("properties") or {}) if isinstance(error.schema, dict) else ())
    strays = [str(k) for k in error.instance if k not in known]
    return bool(difflib.get_close_matches(missing, strays, n=1, cutoff=0.6))


def _schema_problems(validator: Draft202012Validator, instance: Any, base: Path_, positions: _Positions, source: str) -> list[str]:
    problems: list[str] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: positions.at((*base, *e.absolute_path))):
        if not _misspelt(error):
            problems.extend(_describe(error, base, positions, source))
    return problems


# -- semantic checks ------------------------------------------------------------
def _duration(value: Any) -> float:
    return parse_duration(value)


def _safe_offset(value: Any) -> float:
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        return 0.0


def _position_key(problem: str) -> tuple[int, int]:
    """Problems in file order (``file:line:col: ...``)."""
    parts = problem.split(":", 3)
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return 0, 0


def _check_steps(data: Mapping[str, Any], positions: _Positions, source: str, *, skip: Set[tuple[Any, ...]] = frozenset()) -> list[str]:
    problems: list[str] = []
    known_faults: set[str] = set()
    steps = data.get("timeline")
    timeline = [(i, step) for i, step in enumerate(steps if isinstance(steps, list) else []) if isinstance(step, dict)]
    # in the order the steps will run, so stop_fault can only name a fault started before it
    timeline.sort(key=lambda item: _safe_offset(item[1].get("at")))
    for index, step in timeline:
        where = ("timeline", index)
        line, col = positions.at(where)
        if where in skip:  # the schema already said what is wrong with this step
            if step.get("fault") and isinstance(step["fault"], dict):
                known_faults.add(str(step["fault"].get("id") or f"fault-{index}"))
            continue
        actions = [a for a in ACTIONS if a in step]
        if len(actions) != 1:
            found = ", ".join(actions) if actions else "none"
            problems.append(
                f"{source}:{line}:{col}: timeline[{index}]: a step needs exactly one action of: {', '.join(ACTIONS)} (found {found})"
            )
            continue
        action = actions[0]
        if "count" in step and "every" not in step:
            problems.append(f"{source}:{line}:{col}: timeline[{index}]: 'count' needs 'every'")
        args = step[action]
        if action == "state":
            api = APIS[args["api"]]
            validator = Draft202012Validator(dict(api.patch_schema) or {"type": "object"})
            patch_problems = _schema_problems(validator, args["set"], (*where, "state", "set"), positions, source)
            if not patch_problems:
                initial = ((data.get("apis") or {}).get(api.name) or {}).get("state") or {}
                for path, message in api.validate_patch(initial, args["set"]):
                    pline, pcol = positions.at((*where, "state", "set", *path))
                    patch_problems.append(f"{source}:{pline}:{pcol}: {_path_text((*where, 'state', 'set', *path))}: {message}")
            problems += patch_problems
        elif action == "emit":
            api = APIS[args["api"]]
            event = str(args["event"])
            if event not in api.events:
                eline, ecol = positions.at((*where, "emit", "event"))
                names = sorted(api.events)
                problems.append(
                    f"{source}:{eline}:{ecol}: timeline[{index}].emit.event: {api.name} has no event {event!r}; expected one of: {', '.join(names)}{_suggest(event, names)}"
                )
            else:
                validator = Draft202012Validator(dict(api.events[event]))
                problems += _schema_problems(validator, args.get("data") or {}, (*where, "emit", "data"), positions, source)
        elif action == "fault":
            fault_id = str(args.get("id") or f"fault-{index}")
            api_name = args.get("api", "*")
            if api_name != "*" and api_name not in APIS:
                aline, acol = positions.at((*where, "fault", "api"))
                problems.append(
                    f"{source}:{aline}:{acol}: timeline[{index}].fault.api: unknown API {api_name!r}; expected '*' or one of: {', '.join(APIS)}{_suggest(str(api_name), list(APIS))}"
                )
            try:
                spec = FaultSpec.from_dict(args, default_id=fault_id)
            except ValueError as exc:
                problems.append(f"{source}:{line}:{col}: timeline[{index}].fault: {exc}")
            else:
                if spec.api == "*" or spec.api in APIS:
                    given = data.get("apis") if isinstance(data.get("apis"), dict) else {}
                    profiles = {n: str(((given or {}).get(n) or {}).get("profile") or "documented") for n in APIS}
                    for field, message in check_fault(spec.api, spec.kind, spec.route, spec.method, spec.status, profiles):
                        fline, fcol = positions.at((*where, "fault", field if field in args else "kind"))
                        problems.append(f"{source}:{fline}:{fcol}: timeline[{index}].fault.{field}: {message}")
            known_faults.add(fault_id)
        elif action == "stop_fault" and args not in known_faults:
            sline, scol = positions.at((*where, "stop_fault"))
            problems.append(
                f"{source}:{sline}:{scol}: timeline[{index}].stop_fault: no fault {args!r} was started before this step; known: {', '.join(sorted(known_faults)) or 'none'}{_suggest(str(args), sorted(known_faults))}"
            )
    return problems


def _check_apis(data: Mapping[str, Any], positions: _Positions, source: str, *, skip: Set[tuple[Any, ...]] = frozenset()) -> list[str]:
    problems: list[str] = []
    raw = data.get("apis")
    apis: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    for name, settings in apis.items():
        if ("apis", name) in skip or name not in APIS or not isinstance(settings, dict):
            continue
        for path, message in APIS[name].validate_state(settings.get("state") or {}):
            line, col = positions.at(("apis", name, "state", *path))
            problems.append(f"{source}:{line}:{col}: {_path_text(('apis', name, 'state', *path))}: {message}")
    start = (data.get("clock") or {}).get("start")
    if isinstance(start, str) and start != "now":
        line, col = positions.at(("clock", "start"))
        try:
            instant = parse_instant(start)
        except ValueError:
            problems.append(
                f"{source}:{line}:{col}: clock.start: {start!r} is not an ISO 8601 instant; expected 'now' or e.g. 2026-02-06T22:00:00-05:00"
            )
        else:
            if not MIN_INSTANT <= instant <= MAX_INSTANT:
                problems.append(f"{source}:{line}:{col}: clock.start: {start!r} is out of range; expected an instant between 1971 and 9980")
    for path, value in _non_finite(data, ()):
        line, col = positions.at(path)
        problems.append(f"{source}:{line}:{col}: {_path_text(path)}: {value!r} is not a finite number")
    return problems


def _non_finite(value: Any, path: Path_) -> Iterator[tuple[Path_, float]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*path, index))


def _to_model(data: Mapping[str, Any], source: str | None, rule_lines: Mapping[str, int] | None = None) -> Scenario:
    clock = data.get("clock") or {}
    start = clock.get("start")
    apis = {
        name: ApiSettings(
            name=name, profile=str(s.get("profile", "documented")), options=dict(s.get("options") or {}), state=dict(s.get("state") or {})
        )
        for name, s in (data.get("apis") or {}).items()
    }
    steps = []
    for index, raw in enumerate(data.get("timeline") or []):
        action = next(a for a in ACTIONS if a in raw)
        args = raw[action]
        if action == "fault":
            args = {**args, "id": str(args.get("id") or f"fault-{index}")}
        elif action == "stop_fault":
            args = {"id": args}
        elif action == "note":
            args = {"text": args}
        steps.append(
            Step(
                at=_duration(raw["at"]),
                action=action,
                args=args,
                every=_duration(raw["every"]) if "every" in raw else None,
                count=int(raw["count"]) if "count" in raw else None,
                line=index,
            )
        )
    steps.sort(key=lambda s: s.at)  # stable: equal offsets keep file order
    return Scenario(
        id=str(data["id"]),
        description=str(data["description"]).strip(),
        seed=int(data.get("seed", 0)),
        clock=ClockSettings(
            start=None if start in (None, "now") else parse_instant(str(start)),
            speed=float(clock.get("speed", 1.0)),
            wait_for_client=bool(clock.get("wait_for_client", False)),
        ),
        apis=apis,
        timeline=tuple(steps),
        rules=tuple(data.get("rules") or ()),
        duration=_duration(data["duration"]) if data.get("duration") is not None else None,
        source=source,
        rule_lines=dict(rule_lines or {}),
    )


def scenario_from_yaml(text: str, *, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario YAML; raises :class:`ScenarioError` listing every problem."""
    data, positions = _parse(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}:1:1: expected a mapping with id, description, ... at the top, got {type(data).__name__}")
    schema_errors = list(_VALIDATOR.iter_errors(data))
    problems = _schema_problems(_VALIDATOR, data, (), positions, source)
    # the meaning of every part the schema accepts is checked too, in the same pass
    broken = {tuple(error.absolute_path)[:2] for error in schema_errors}
    try:
        problems += _check_apis(data, positions, source, skip=broken) + _check_steps(data, positions, source, skip=broken)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        if not problems:
            raise  # a semantic check that trips over what the schema accepted is a bug to see
        # it tripped over a part the schema refused (and already said what is wrong with): nothing to add
    problems.sort(key=_position_key)
    if problems:
        raise ScenarioError(problems[0], problems)
    return _to_model(data, None if source.startswith("<") else source, _rule_lines(data, positions))


def _rule_lines(data: Mapping[str, Any], positions: _Positions) -> dict[str, int]:
    lines: dict[str, int] = {}
    for index, item in enumerate(data.get("rules") or ()):
        if isinstance(item, str):
            lines[item] = positions.at(("rules", index))[0]
        elif isinstance(item, dict):
            for rule_id in item:
                lines[str(rule_id)] = positions.at(("rules", index, rule_id), key=True)[0]
    return lines


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read: {exc.strerror}") from None
    return scenario_from_yaml(text, source=str(file))


# -- built-in scenarios --------------------------------------------------------------
def builtin_dir() -> Path:
    """Where the built-in scenarios are: inside the installed package, or the checkout's ``scenarios/``."""
    packaged = resources.files("mockserver") / "scenarios"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "scenarios"


def builtin_scenarios() -> dict[str, Path]:
    root = builtin_dir()
    found = {}
    for file in sorted(root.rglob("*.yaml")):
        found[file.relative_to(root).with_suffix("").as_posix()] = file
    return found


def load_builtin(scenario_id: str) -> Scenario:
    known = builtin_scenarios()
    if scenario_id not in known:
        raise ScenarioError(f"no built-in scenario {scenario_id!r}; known: {', '.join(known)}{_suggest(scenario_id, list(known))}")
    return load_scenario(known[scenario_id])


def resolve_scenario(ref: str) -> Scenario:
    """A built-in id (``luckylobster/sleeping-overnight``) or a path to a YAML file."""
    if ref.endswith((".yaml", ".yml")) or os.sep in ref and Path(ref).exists():
        return load_scenario(ref)
    return load_builtin(ref)
