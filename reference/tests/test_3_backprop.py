"""Section 3: backpropagation over a whole graph.

Most of these tests build graphs by hand, `Value(data, (children...), op)`,
with made-up local rules, so they check `_topo_order()` and `backward()` alone,
whatever state your operations are in. The last ones use real operations.
"""

from __future__ import annotations

import math
import random
import sys

import pytest
from helpers import check_close, fail, leaves

from micrograd.engine import Value


def node(label: str, children: tuple[Value, ...] = (), slopes: tuple[float, ...] = ()) -> Value:
    """A hand-made node whose rule passes out.grad * slope to each child (the chain rule, given local slopes)."""
    out = Value(0.0, children, "f" if children else "", label=label)

    def rule(out: Value) -> None:
        for child, slope in zip(children, slopes, strict=True):
            child.grad += slope * out.grad

    if children:
        out._backward = rule
    return out


def chain(length: int) -> list[Value]:
    """x0 <- x1 <- ... : each node's only child is the one before; every slope is 1."""
    nodes = [node("x0")]
    for i in range(1, length):
        nodes.append(node(f"x{i}", (nodes[-1],), (1.0,)))
    return nodes


def check_order(task: str, what: str, root: Value, expected_nodes: list[Value]) -> list[Value]:
    """root._topo_order() lists exactly `expected_nodes`, each once, each after its children; return it."""
    __tracebackhide__ = True
    listed = root._topo_order()
    names = [v.label for v in listed] if isinstance(listed, list) else listed
    if not isinstance(listed, list):
        fail(task, f"{what}: the type of _topo_order()'s result", "a list of Values", listed, "return a list.")
    if len({id(v) for v in listed}) != len(listed):
        fail(task, f"{what}: each node once", "no repeats", names, "remember which nodes you have already listed.")
    if {id(v) for v in listed} != {id(v) for v in expected_nodes}:
        fail(
            task,
            f"{what}: which nodes are listed",
            sorted(v.label for v in expected_nodes),
            sorted(names),
            "list every node reachable from self through _prev (self included), and nothing else.",
        )
    position = {id(v): i for i, v in enumerate(listed)}
    for v in listed:
        for child in v._prev:
            if position[id(child)] > position[id(v)]:
                fail(
                    task,
                    f"{what}: {child.label} is a child of {v.label}",
                    f"{child.label} before {v.label}",
                    names,
                    "a node goes into the list only once all of its children are in it.",
                )
    return listed


@pytest.mark.task3_1
def test_topo_single_leaf() -> None:
    (a,) = leaves(1.0)
    check_order("3.1", "a leaf on its own", a, [a])


@pytest.mark.task3_1
def test_topo_chain_order() -> None:
    nodes = chain(4)
    order = check_order("3.1", "the chain x0 <- x1 <- x2 <- x3", nodes[-1], nodes)
    if order != nodes:
        fail("3.1", "the chain x0 <- x1 <- x2 <- x3", ["x0", "x1", "x2", "x3"], [v.label for v in order], "x0 first.")


@pytest.mark.task3_1
def test_topo_diamond_lists_shared_node_once() -> None:
    a = node("a")
    b = node("b", (a,), (1.0,))
    c = node("c", (a,), (1.0,))
    d = node("d", (b, c), (1.0, 1.0))
    order = check_order("3.1", "the diamond d(b(a), c(a))", d, [a, b, c, d])
    if order[0] is not a or order[-1] is not d:
        fail("3.1", "the diamond d(b(a), c(a))", "a first, d last", [v.label for v in order], "children first.")


@pytest.mark.task3_1
def test_topo_child_listed_twice() -> None:
    a = node("a")
    b = node("b", (a, a), (1.0, 1.0))  # as a * a makes
    check_order("3.1", "b = f(a, a), the same child twice", b, [a, b])


@pytest.mark.task3_1
def test_topo_only_what_is_below_the_root() -> None:
    a, unrelated = node("a"), node("unrelated")
    b = node("b", (a,), (1.0,))
    node("parent_of_b", (b, unrelated), (1.0, 1.0))  # above b: not part of b's graph
    check_order("3.1", "b(a), which has a parent of its own", b, [a, b])


@pytest.mark.task3_1
def test_topo_random_dags() -> None:
    rng = random.Random(1)
    for trial in range(5):
        nodes = [node(f"n{i}") for i in range(5)]
        for i in range(5, 150):
            kids = tuple(rng.sample(nodes, rng.randint(1, 3)))
            nodes.append(node(f"n{i}", kids, (1.0,) * len(kids)))
        root = node("root", tuple(nodes[-10:]), (1.0,) * 10)
        reachable: dict[int, Value] = {}
        todo = [root]
        while todo:  # the expected set, found the slow and simple way
            v = todo.pop()
            if id(v) not in reachable:
                reachable[id(v)] = v
                todo.extend(v._prev)
        check_order("3.1", f"random graph #{trial} of {len(reachable)} nodes", root, list(reachable.values()))


@pytest.mark.task3_1
def test_topo_long_chain_without_recursion() -> None:
    nodes = chain(10_000)
    try:
        order = nodes[-1]._topo_order()
    except RecursionError:
        order = None  # fail below, outside the except: the recursion's traceback is 1000 frames long
    if order is None:
        fail(
            "3.1",
            f"a chain of 10,000 nodes (recursion limit {sys.getrecursionlimit()})",
            "a list of 10,000 nodes",
            "RecursionError",
            "use a loop with an explicit stack (a list) instead of a recursive function.",
        )
    if order != nodes:
        fail("3.1", "a chain of 10,000 nodes", "x0, x1, ..., x9999", [v.label for v in order[:5]], "leaves first.")


@pytest.mark.task3_2
def test_backward_sets_root_grad_to_one() -> None:
    (a,) = leaves(4.0)
    a.backward()
    check_close("3.2", "a.backward() on a leaf a: a.grad", a.grad, 1.0, "d(self)/d(self) = 1: set self.grad = 1.")


@pytest.mark.task3_2
def test_backward_chain_multiplies_slopes() -> None:
    a = node("a")
    b = node("b", (a,), (2.0,))
    c = node("c", (b,), (-3.0,))
    c.backward()
    check_close("3.2", "c(b(a)) with slopes dc/db=-3, db/da=2: b.grad", b.grad, -3.0, "run c's rule first.")
    check_close("3.2", "c(b(a)) with slopes dc/db=-3, db/da=2: a.grad", a.grad, -6.0, "then b's: from root to leaves.")


@pytest.mark.task3_2
def test_backward_diamond_sums_paths() -> None:
    a = node("a")
    b = node("b", (a,), (2.0,))
    c = node("c", (a,), (5.0,))
    d = node("d", (b, c), (3.0, 7.0))
    d.backward()
    # dd/da = dd/db * db/da + dd/dc * dc/da: a is reached along two paths.
    check_close(
        "3.2",
        "the diamond d(b(a), c(a)) with slopes dd/db=3, dd/dc=7, db/da=2, dc/da=5: a.grad",
        a.grad,
        3 * 2 + 7 * 5,
        "a's grad is complete only after BOTH b's and c's rules ran: call rules in reverse topological order.",
    )


@pytest.mark.task3_2
def test_backward_calls_each_rule_once_parents_first() -> None:
    calls: list[str] = []
    a = node("a")
    b = node("b", (a,), (1.0,))
    c = node("c", (a, b), (1.0, 1.0))
    d = node("d", (b, c), (1.0, 1.0))
    for v in (b, c, d):
        v._backward = lambda out, name=v.label: calls.append(name)
    d.backward()
    if calls != ["d", "c", "b"]:
        fail(
            "3.2",
            "the rules called by d.backward() on d(b, c(a, b)), b(a)",
            ["d", "c", "b"],
            calls,
            "call every node's rule exactly once, in reversed(self._topo_order()).",
        )


@pytest.mark.task3_2
def test_backward_twice_doubles_leaves_only() -> None:
    a = node("a")
    b = node("b", (a,), (2.0,))
    c = node("c", (b,), (3.0,))
    c.backward()
    c.backward()
    check_close(
        "3.2",
        "c(b(a)), backward() twice: b.grad (not a leaf)",
        b.grad,
        3.0,
        "reset the grad of every node that has children (_prev) to 0 before running the rules.",
    )
    check_close(
        "3.2",
        "c(b(a)), backward() twice: a.grad (a leaf accumulates: 6 + 6)",
        a.grad,
        12.0,
        "reset only nodes with children (_prev); leaves such as weights keep adding up until zero_grad().",
    )


@pytest.mark.task3_2
def test_backward_long_chain_without_recursion() -> None:
    nodes = chain(10_000)
    try:
        nodes[-1].backward()
        recursed = False
    except RecursionError:
        recursed = True  # fail below, outside the except: the recursion's traceback is 1000 frames long
    if recursed:
        fail("3.2", "backward() on a chain of 10,000 nodes", "no error", "RecursionError", "use _topo_order(), a loop.")
    check_close("3.2", "backward() on a chain of 10,000 nodes: x0.grad", nodes[0].grad, 1.0, "every slope is 1.")


@pytest.mark.task3_2
def test_backward_classic_expression() -> None:
    a, b, c = leaves(2.0, -3.0, 10.0)
    f = Value(-2.0, label="f")
    e = a * b
    d = e + c
    L = d * f
    L.backward()
    expected = {"a": b.data * f.data, "b": a.data * f.data, "c": f.data, "f": d.data}
    for v in (a, b, c, f):
        check_close(
            "3.2",
            f"L = (a*b + c) * f with a=2, b=-3, c=10, f=-2: dL/d{v.label}",
            v.grad,
            expected[v.label],
            "this uses your + and * (tasks 1.1, 2.1) and backward(); check those if the hand-made graphs pass.",
        )


@pytest.mark.task3_2
def test_backward_neuron_from_the_lecture() -> None:
    x1, x2, w1, w2 = leaves(2.0, 0.0, -3.0, 1.0)
    bias = Value(6.8813735870195432)
    o = (x1 * w1 + x2 * w2 + bias).tanh()
    o.backward()
    n = x1.data * w1.data + x2.data * w2.data + bias.data
    dn = 1 - math.tanh(n) ** 2  # = 0.5
    for v, want in ((x1, w1.data * dn), (w1, x1.data * dn), (x2, w2.data * dn), (w2, x2.data * dn)):
        check_close(
            "3.2",
            f"o = tanh(x1*w1 + x2*w2 + b), the lecture's neuron: do/d{v.label}",
            v.grad,
            want,
            "uses +, *, tanh (tasks 1.1, 1.4, 2.1, 2.4) and backward().",
        )


@pytest.mark.task3_2
def test_backward_reused_value() -> None:
    (a,) = leaves(3.0)
    b = a * a + a  # a appears three times
    b.backward()
    check_close("3.2", "b = a*a + a with a=3: db/da", a.grad, 2 * 3.0 + 1, "every use of a adds to a.grad.")
