"""YAML as params are written by hand: dates kept as text for pydantic to check, a key given twice
refused, every key's line remembered so an error names the file and line, and one way to merge
a team's file over the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from playbook.errors import ParamsError


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings, so pydantic parses them and reports bad ones, and
    refuses a key given twice in one mapping (YAML itself would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in lines:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"key '{key_node.value}' is given twice, on lines {lines[key_node.value]} and {line}; keep one",
                    key_node.start_mark,
                )
            lines[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


_Loader = YamlLoader
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def describe_yaml_error(err: yaml.YAMLError) -> str:
    """Where and what, to follow a file name: ", line 3, column 7: malformed YAML: ..."."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if isinstance(err, yaml.constructor.ConstructorError) and "given twice" in problem and mark:
        return f", line {mark.line + 1}: {problem}"
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{where}: malformed YAML: {problem}"


def load_yaml(text: str) -> Any:
    """YAML text as Python values, read as parameters are (dates kept as text, repeated keys refused).

    Raises:
        yaml.YAMLError: malformed YAML or a repeated key (see :func:`describe_yaml_error`).
    """
    return yaml.load(text, Loader=YamlLoader)


def read_yaml_lines(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """Read a YAML mapping and the 1-based line of every key in it (by dotted key path)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ParamsError(f"{path}: file not found") from err
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}{describe_yaml_error(err)}") from err
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values at the top level, found {type(data).__name__}")
    lines: dict[tuple[str, ...], int] = {}
    walked: set[int] = set()

    def walk(n: yaml.Node, prefix: tuple[str, ...]) -> None:
        # An alias refers to a node already walked: each node is walked once, so a file of
        # nested aliases (a "billion laughs") costs its size, not 2 ** its depth.
        if id(n) in walked:
            return
        walked.add(id(n))
        if isinstance(n, yaml.MappingNode):
            for key_node, value_node in n.value:
                key = prefix + (str(key_node.value),)
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key)

    walk(node, ())
    return data, lines


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings (params over defaults, a user's import mapping over a preset's); the
    override wins, lists are replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


