"""YAML for untrusted scenario text: PyYAML's safe loader with its depth, alias and size
checked on the composed node graph, before anything is built (a billion-laughs document
is refused while it is still a few hundred nodes), and only the plain JSON-like types:
no dates, sets, binary or other tags."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from .limits import LimitExceeded, Limits

PLAIN_TAGS = {
    "tag:yaml.org,2002:null": SafeConstructor.construct_yaml_null,
    "tag:yaml.org,2002:bool": SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:str": SafeConstructor.construct_yaml_str,
    "tag:yaml.org,2002:seq": SafeConstructor.construct_yaml_seq,
    "tag:yaml.org,2002:map": SafeConstructor.construct_yaml_map,
}


def _refuse_tag(loader: SafeConstructor, node: Node) -> Any:
    raise ConstructorError(None, None, f"tag {node.tag!r} is not accepted", node.start_mark)


class _Loader(yaml.SafeLoader):
    """Limits are per instance: set `limits` before loading."""

    limits: Limits = Limits()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_yaml_aliases:
                raise LimitExceeded(None, "max_yaml_aliases", self.limits.max_yaml_aliases,
                                    "too many YAML aliases")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth:
                raise LimitExceeded(None, "max_depth", self.limits.max_depth,
                                    "nested too deeply")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_constructors = {**PLAIN_TAGS, None: _refuse_tag}
# Dates stay text: a date object is not JSON and means nothing in a scenario.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def expanded_size(node: Node, limit: int) -> int:
    """Values the node stands for with every alias expanded, counted without expanding
    (a node shared through aliases is counted once per use); stops past `limit`."""
    memo: dict[int, int] = {}

    def size(n: Node, depth: int) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if depth > 200:  # a recursive alias (&a [*a]) has no finite expansion
            raise LimitExceeded(None, "max_nodes", limit, "YAML aliases refer to themselves")
        total = 1
        if isinstance(n, SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > limit:
                    break
        elif isinstance(n, MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > limit:
                    break
        memo[key] = total
        return total

    return size(node, 0)


def load(text: str, limits: Limits) -> Any:
    """The document's value. LimitExceeded for a limit, ValueError (with PyYAML's words)
    for anything that is not a plain YAML document."""
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters here
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None
    loader.limits = limits
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if expanded_size(node, limits.max_nodes) > limits.max_nodes:
            raise LimitExceeded(None, "max_nodes", limits.max_nodes,
                                "too many values once YAML aliases are expanded")
        return loader.construct_document(node)
    except (yaml.YAMLError, ComposerError) as exc:
        raise ValueError(str(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # e.g. an int of more digits than Python converts; an unhashable mapping key
        raise ValueError(f"unreadable value: {exc}") from None
    finally:
        loader.dispose()
