"""The one way himo reads YAML it did not write itself: PyYAML's safe loader, with bounds.

Every YAML file from outside (pointers, himo.yaml, himo.lock, params and vars files) is read
here, so a hostile file costs milliseconds, not gigabytes:

- aliases may not expand the document beyond `max(MIN_EXPANDED, EXPANSION * its own nodes)`
  nodes: a 640-byte "billion laughs" expands to 10^9 nodes, and every walk over the loaded value
  (interpolation, flattening, recording) would pay for all of them; a few merge keys
  (`<<: *defaults`, as DVC users write) expand a document by a small factor and stay allowed;
- no alias may refer to a node that contains it (a recursive document has no end);
- nesting is at most MAX_DEPTH levels, counting through aliases (deeper values overflow the
  recursion of everything that walks them, and libyaml's C composer crashes the process on
  some 30,000 levels).

A refusal is a `yaml.MarkedYAMLError`, so each caller reports it as it reports bad syntax:
its file, its line, the problem.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.nodes import MappingNode, Node, ScalarNode

MAX_DEPTH = 100
MIN_EXPANDED = 100_000
EXPANSION = 10
# libyaml's C composer recurses once per level: it is used only when the text cannot nest
# deeper than this (a bound from the text itself, see _depth_bound), and Python's composer,
# which counts levels as it goes, otherwise.
C_COMPOSER_DEPTH = 5_000

_FIRST_LEAD = re.compile(r"[ ?:-]*")
_LINE_LEAD = re.compile(r"\n[ ?:-]*")  # with the newline: one more than the run
_CParser: Any = getattr(getattr(yaml, "_yaml", None), "CParser", None)


class _Bounded:
    """Checks the composed document before anything is constructed from it."""

    may_alias = True  # False when the text has no anchor, so no alias either: a tree
    may_nest_too_deep = True  # False when the text cannot nest deeper than MAX_DEPTH

    def get_single_data(self) -> Any:
        node = self.get_single_node()  # type: ignore[attr-defined]
        if node is None:
            return None
        if self.may_alias:
            _check(node)
        elif self.may_nest_too_deep:
            _check_depth(node)
        return self.construct_document(node)  # type: ignore[attr-defined]


class _CountingComposer(Composer):
    """PyYAML's composer in Python, refusing nesting deeper than MAX_DEPTH as it composes."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _refusal(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _deep_loader_bases() -> tuple[type, ...]:
    if _CParser is None:
        return (_CountingComposer, yaml.SafeLoader)
    return (_CountingComposer, _CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver)


class _DeepLoader(_Bounded, *_deep_loader_bases()):  # type: ignore[misc]
    """C scanning and parsing (fast), Python composing (bounded): for text that may nest deep."""

    def __init__(self, stream: str) -> None:
        if _CParser is None:
            yaml.SafeLoader.__init__(self, stream)
            return
        _CParser.__init__(self, stream)
        Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


class _FastLoader(_Bounded, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml all the way: for text that cannot nest deep enough to crash its composer."""


def loader_pair(name: str) -> tuple[type, type]:
    """(fast, deep) loader classes of their own, for a caller that adds constructors to both."""
    return type(f"{name}Fast", (_FastLoader,), {}), type(f"{name}Deep", (_DeepLoader,), {})


_SAFE = loader_pair("Safe")


def load(text: str, loaders: tuple[type, type] = _SAFE) -> Any:
    """The value of YAML `text` (safe types only); yaml.YAMLError if it is bad or too big."""
    fast, deep = loaders
    depth = _depth_bound(text)
    loader = (deep if depth > C_COMPOSER_DEPTH else fast)(text)
    loader.may_alias = _may_have_anchor(text)
    loader.may_nest_too_deep = depth > MAX_DEPTH
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def invalid(exc: yaml.YAMLError) -> str:
    """`invalid YAML (line N): PROBLEM`, for a reader's one-line error naming its file: the
    problem says why (bad syntax, or a bound above refused the document)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark else ""
    return f"invalid YAML{where}: {getattr(exc, 'problem', None) or 'bad syntax'}"


def _depth_bound(text: str) -> int:
    """A level of nesting the text surely does not exceed, from a few string scans (~5 ms for the
    400 KB of 2,000 stages). Each flow level needs a '[' or '{', each block level a '-', '?' or
    ':'. Also, a block level starts on a new line at a greater column than its parent (a sequence
    under a mapping key may share the key's column), or after '- ', '? ' or ': ' opening a line
    (`- - x`): so block nesting is at most twice the longest run of ' -?:' opening a line."""
    flow = text.count("[") + text.count("{")
    indicators = flow + text.count("-") + text.count("?") + text.count(":") + 1
    if indicators <= MAX_DEPTH:
        return indicators
    first = _FIRST_LEAD.match(text)
    lead = max(len(first.group()) if first else 0, max(map(len, _LINE_LEAD.findall(text)), default=1) - 1)
    return min(indicators, 2 * (lead + 1) + flow + 1)


def _may_have_anchor(text: str) -> bool:
    """False when `text` surely holds no anchor: no '&' after a space, a line start or a flow
    indicator, and before a name (`a && b` in a command is no anchor)."""
    at = text.find("&")
    while at >= 0:
        before = text[at - 1] if at else "\n"
        after = text[at + 1:at + 2]
        if before in " \t\r\n[{," and after and after not in " \t\r\n&":
            return True
        at = text.find("&", at + 1)
    return False


def _check(root: Node) -> None:
    """Refuse recursive aliases, and documents too deep or expanding too far (see above)."""
    walk = _Walk()
    total, _height = walk.expanded(root, 1)
    limit = max(MIN_EXPANDED, EXPANSION * walk.written)
    if total > limit:
        raise _refusal(f"aliases expand the document to {total:,} nodes (more than {limit:,}):"
                       " an alias bomb?", root.start_mark)


def _check_depth(root: Node) -> None:
    """Nesting of a document without aliases (a tree): level by level, no call per node."""
    level = [root]
    for _ in range(MAX_DEPTH):
        level = [c for n in level if not isinstance(n, ScalarNode)
                 for c in (_mapping_children(n) if isinstance(n, MappingNode) else n.value)]
        if not level:
            return
    raise _refusal(f"nested deeper than {MAX_DEPTH} levels", level[0].start_mark)


def _mapping_children(node: MappingNode) -> list[Node]:
    return [c for pair in node.value for c in pair]


class _Walk:
    """One pass over the composed nodes, each collection once (memoised by identity)."""

    def __init__(self) -> None:
        # collection -> (expanded size, levels from it down); (-1, 0) while being counted
        self.known: dict[int, tuple[int, int]] = {}
        self.written = 1  # nodes as written: the root and each child of each distinct collection

    def expanded(self, node: Node, depth: int) -> tuple[int, int]:
        """(nodes in `node` with every alias expanded, its levels), `node` being at level `depth`."""
        if isinstance(node, ScalarNode):
            return 1, 1
        size, height = self.known.get(id(node), (0, 0))
        if size < 0:
            raise _refusal("an alias refers to a node that contains it (a recursive document)",
                           node.start_mark)
        if depth + max(height, 1) - 1 > MAX_DEPTH:
            raise _refusal(f"nested deeper than {MAX_DEPTH} levels", node.start_mark)
        if size:
            return size, height
        self.known[id(node)] = (-1, 0)
        children = _mapping_children(node) if isinstance(node, MappingNode) else node.value
        self.written += len(children)
        size, height = 1, 1
        for child in children:
            if isinstance(child, ScalarNode):  # most nodes: spare the call
                size, height = size + 1, max(height, 2)
                continue
            child_size, child_height = self.expanded(child, depth + 1)
            size, height = size + child_size, max(height, child_height + 1)
        self.known[id(node)] = (size, height)
        return size, height


def _refusal(problem: str, mark: Any) -> ComposerError:
    return ComposerError(None, None, problem, mark)
