"""The student's computation graph of a failing public probe, in draw_dot's style.

A record per value (its name, data and grad), an oval per operation, built
from the probe's program (what the probe asked the student's `Value` to
compute) and the plain numbers the sandbox returned: every node's data and,
after backward(), every node's grad (`node_grad`). Nodes whose gradient
differs from the reference's are red and show the expected value beside the
student's; the operation where a gradient first goes wrong (its output's grad
is right, an input's is not) is outlined in red. Graphviz's `dot` draws the
SVG in the grader's process; without `dot` the same graph is a table.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from grader.html_report.page import esc, number, numbers, table
from grader.oracle import close
from grader.rubric import OP_TEXT, render

DOT_TIMEOUT = 20.0  # seconds; a 30-node graph takes milliseconds
OP_LABEL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "neg": "neg"}
INSTALL = "Graphviz's `dot` is not installed on the grading machine, so the graph is shown as a table"


@dataclass
class Node:
    label: str
    op: str | None = None
    args: list[Any] = field(default_factory=list)
    """Inputs as in a probe's program: an int is an earlier node, {"c": x} a constant."""
    data: float | None = None
    grad: float | None = None
    want_data: float | None = None
    want_grad: float | None = None
    before: float | None = None
    """A leaf's grad before _backward ran (local-derivative checks)."""

    @property
    def wrong_data(self) -> bool:
        return self.want_data is not None and not close(self.data, self.want_data)

    @property
    def wrong_grad(self) -> bool:
        return self.want_grad is not None and not close(self.grad, self.want_grad)


@dataclass
class Graph:
    nodes: list[Node]
    root: int = -1

    def consumers(self) -> dict[int, list[int]]:
        used: dict[int, list[int]] = {i: [] for i in range(len(self.nodes))}
        for i, node in enumerate(self.nodes):
            for a in dict.fromkeys(a for a in node.args if isinstance(a, int)):
                used[a].append(i)
        return used

    def culprits(self) -> list[int]:
        """Where, walking back from the root, a gradient first goes wrong: a node
        whose grad is wrong although every operation using it has the right grad
        (so the error is not inherited from above); those operations are blamed."""
        root = self.root % len(self.nodes)
        used = self.consumers()
        found: set[int] = set()
        for j, node in enumerate(self.nodes):
            if not node.wrong_grad or j == root or not used[j]:
                continue
            if all(not self.nodes[i].wrong_grad or i == root for i in used[j]):
                found.update(used[j])
        if self.nodes[root].op is not None and self.nodes[root].wrong_grad:
            found.add(root)  # the root's own grad must be 1
        return sorted(found)

    @property
    def any_wrong(self) -> bool:
        return any(n.wrong_grad or n.wrong_data for n in self.nodes)


def _label(names: list[str], i: int, instr: list[Any]) -> str:
    if instr[0] == "leaf" or len(names[i]) <= 14:
        return names[i]
    return f"node {i}"


def expr_graph(probe: dict[str, Any], got: dict[str, Any], want: dict[str, Any]) -> Graph | None:
    """The graph of an `expr` probe: every node's data, and grads when the probe ran backward()."""
    program = probe.get("program")
    data, want_data = numbers(got.get("data")), numbers(want.get("data"))
    if not program or not (len(data) == len(want_data) == len(program)):
        return None
    grads, want_grads = numbers(got.get("node_grad")), numbers(want.get("node_grad"))
    has_grads = len(grads) == len(want_grads) == len(program)
    names = render(program)
    nodes = []
    for i, (op, *args) in enumerate(program):
        nodes.append(Node(
            label=_label(names, i, [op, *args]),
            op=None if op == "leaf" else op,
            args=[] if op == "leaf" else list(args),
            data=data[i], want_data=want_data[i],
            grad=grads[i] if has_grads else None, want_grad=want_grads[i] if has_grads else None,
        ))  # fmt: skip
    return Graph(nodes, probe.get("root", -1))


def local_graphs(probe: dict[str, Any], got: dict[str, Any], want: dict[str, Any]) -> list[tuple[int, Graph]]:
    """One small graph per failing case of a `local` probe: the inputs (grad before
    and after `out._backward()`), the operation, and `out` with its given grad."""
    graphs = []
    cases, have, wanted = probe.get("cases", []), got.get("cases"), want.get("cases", [])
    if not isinstance(have, list):
        return []
    for k, (case, h, w) in enumerate(zip(cases, have, wanted)):
        if not isinstance(h, dict) or len(numbers(h.get("grad"))) != len(case["inputs"]):
            continue
        xs = case["inputs"]
        names = render([["leaf", x] for x in xs])
        nodes = [
            Node(label=names[i], data=x, want_data=x, grad=g, want_grad=wg, before=case["pre"][i])
            for i, (x, g, wg) in enumerate(zip(xs, numbers(h.get("grad")), w.get("grad", [])))
        ]
        if len(nodes) != len(xs):
            continue
        out = Node(label="out", op=probe["op"], args=list(case["args"]), data=number(h.get("data")))
        out.want_data = w.get("data")
        out.grad = out.want_grad = case["upstream"]
        nodes.append(out)
        graph = Graph(nodes)
        if graph.any_wrong:
            graphs.append((k, graph))
    return graphs


# ------------------------------------------------------------------ drawing


def _record(text: str) -> str:
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


def _num(x: float | None) -> str:
    return "?" if x is None else f"{x:.6g}" if isinstance(x, float) else str(x)


def _op_text(node: Node) -> str:
    text = OP_LABEL.get(node.op or "", node.op or "")
    if node.op == "pow" and len(node.args) == 2 and isinstance(node.args[1], dict):
        return f"**{node.args[1]['c']:g}"
    return text


def dot_source(graph: Graph) -> str:
    """The graph in Graphviz's DOT language (draw_dot's records and ovals)."""
    import graphviz

    # Top to bottom: records stack data and grad vertically, which fits a phone's width.
    dot = graphviz.Digraph(graph_attr={"rankdir": "TB", "bgcolor": "white", "nodesep": "0.2", "ranksep": "0.3"},
                           node_attr={"fontname": "Helvetica", "fontsize": "12"})  # fmt: skip
    culprits = set(graph.culprits())
    for i, n in enumerate(graph.nodes):
        parts = [_record(n.label), f"data {_num(n.data)}"]
        if n.wrong_data:
            parts.append(f"expected data {_num(n.want_data)}")
        if n.before is not None:
            parts.append(f"grad before {_num(n.before)}")
        if n.grad is not None:
            parts.append(f"grad {_num(n.grad)}")
        if n.wrong_grad:
            parts.append(f"expected grad {_num(n.want_grad)}")
        attrs = {"shape": "record", "label": "{ " + " | ".join(parts) + " }"}
        if n.wrong_grad or n.wrong_data:
            attrs |= {"style": "filled", "fillcolor": "#ffebe9", "color": "#c62828", "penwidth": "2"}
        dot.node(f"v{i}", **attrs)
        if n.op is None:
            continue
        op_attrs = {"label": _op_text(n)}
        if i in culprits:
            op_attrs |= {"label": f"{_op_text(n)}\ngoes wrong here", "color": "#c62828", "fontcolor": "#c62828",
                         "penwidth": "3"}  # fmt: skip
        dot.node(f"v{i}_op", **op_attrs)
        dot.edge(f"v{i}_op", f"v{i}")
        for k, a in enumerate(n.args):
            if isinstance(a, int):
                dot.edge(f"v{a}", f"v{i}_op")
            elif not (n.op == "pow" and k == 1):
                dot.node(f"c{i}_{k}", label=f"{a['c']:g}", shape="plaintext")
                dot.edge(f"c{i}_{k}", f"v{i}_op")
    return dot.source


def svgs_of(sources: list[str], prefixes: list[str]) -> list[str | None]:
    """Graphviz's SVG of each DOT source, from ONE run of `dot` (a process costs
    more than laying out a small graph); ids are prefixed so several graphs can
    share a page. None for each when `dot` is missing or fails."""
    exe = shutil.which("dot")
    if exe is None or not sources:
        return [None] * len(sources)
    try:
        done = subprocess.run([exe, "-Tsvg"], input="\n".join(sources).encode(), capture_output=True,
                              timeout=DOT_TIMEOUT)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return [None] * len(sources)
    text = done.stdout.decode("utf-8", "replace")
    docs = [d[d.find("<svg") :] + "</svg>" for d in text.split("</svg>") if "<svg" in d]
    if done.returncode != 0 or len(docs) != len(sources):
        return [None] * len(sources)
    return [re.sub(r'\bid="', f'id="{p}-', re.sub(r"<!--.*?-->", "", d, flags=re.S)) for d, p in zip(docs, prefixes)]


def as_table(graph: Graph) -> str:
    """The same graph as rows: what each node computes, its data and grad, the expected grad."""
    labels = [n.label for n in graph.nodes]
    rows, classes = [], []
    show_before = any(n.before is not None for n in graph.nodes)
    for n in graph.nodes:
        if n.op is None:
            made = "input"
        else:
            parts = [esc(labels[a]) if isinstance(a, int) else esc(f"{a['c']:g}") for a in n.args]
            made = OP_TEXT[n.op].format(*parts) if n.op in OP_TEXT else f"{esc(n.op)}({', '.join(parts)})"
        data = esc(_num(n.data)) + (f" (expected {esc(_num(n.want_data))})" if n.wrong_data else "")
        row = [esc(n.label), made, data]
        if show_before:
            row.append(esc(_num(n.before)) if n.before is not None else "")
        row += [esc(_num(n.grad)), esc(_num(n.want_grad))]
        rows.append(row)
        classes.append("wrong" if n.wrong_grad or n.wrong_data else "")
    headers = ["node", "computed as", "data", *(["grad before"] if show_before else []), "your grad", "expected grad"]
    numeric = [2, 3, 4, 5] if show_before else [2, 3, 4]
    return table(headers, rows, numeric=numeric, row_classes=classes)


def graph_html(graph: Graph, svg: str | None, caption: str, *, local: bool = False) -> str:
    """The picture (`svg`, from svgs_of; None: the text fallback) and, folded, the same graph as a table.
    `local`: only the last operation's _backward ran (a local-derivative check)."""
    wrong = [n.label for n in graph.nodes if n.wrong_grad]
    culprits = [graph.nodes[i] for i in graph.culprits()]
    summary = ""
    if culprits and local:
        summary = (f"<p>Only {esc(_op_text(culprits[0]))}'s _backward ran here, and it left a wrong gradient in "
                   f"{esc(', '.join(wrong))}: its rule is wrong.</p>")  # fmt: skip
    elif culprits:
        ops = ", ".join(f"{_op_text(n)} (making {n.label})" for n in culprits)
        summary = (f"<p>Walking back from the root, the gradient first goes wrong at: <b>{esc(ops)}</b>. "
                   "The gradient coming into it is right, so either its backward rule is wrong, or the rule ran "
                   "before that gradient was complete (the order of backward()). "
                   f"Nodes with a wrong gradient: {esc(', '.join(wrong))}.</p>")  # fmt: skip
    rows = as_table(graph)
    if svg is None:
        return f"{summary}<p class=warn>{esc(INSTALL)} (`sudo apt-get install graphviz`).</p>{rows}"
    body = f'<figure><div class="scroll">{svg}</div><figcaption>{caption}</figcaption></figure>'
    return f"{summary}{body}<details><summary>The same graph as a table</summary>{rows}</details>"
