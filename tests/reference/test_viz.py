"""draw_dot's DOT text, rendering with and without Graphviz's `dot`, and the matplotlib figures."""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from micrograd.data import make_moons
from micrograd.engine import Value
from micrograd.nn import MLP
from micrograd.train import History, fit
from micrograd.viz import INSTALL_GRAPHVIZ, draw_dot, plot_decision_boundary, plot_history, render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RECORD = re.compile(r'^\s*(v\d+) \[label="\{ (.*) \| data (\S+) \| grad (\S+) \}" shape=record\]$', re.M)
OP_NODE = re.compile(r'^\s*(v\d+)_op \[label="?(.*?)"?\]$', re.M)  # simple names are left unquoted


def expression() -> Value:
    """A small labelled graph with reuse: L = (a*b + a).tanh(), backpropagated."""
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    ab = a * b
    ab.label = "ab"
    s = ab + a
    s.label = "s"
    out = s.tanh()
    out.label = "L"
    out.backward()
    return out


@pytest.fixture
def dot_program() -> str:
    """The path of Graphviz's `dot`. Skipped when missing, except on CI, which installs it."""
    path = shutil.which("dot")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz's `dot` is missing on CI, which must test real rendering (see .ci/run)")
        pytest.skip("Graphviz's `dot` is not installed; real rendering is tested on CI")
    return path


# ------------------------------------------------------------------------ draw_dot


def test_one_record_per_value_with_label_data_and_grad() -> None:
    out = expression()
    nodes = out._topo_order()
    records = RECORD.findall(draw_dot(out).source)
    assert len(records) == len(nodes) == 5
    by_label = {label.strip(): (float(data), float(grad)) for _, label, data, grad in records}
    assert by_label["a"] == (2.0, pytest.approx(-2 * (1 - out.data**2), abs=1e-4))
    assert by_label["L"] == (pytest.approx(out.data, abs=1e-4), 1.0)
    assert set(by_label) == {"a", "b", "ab", "s", "L"}


def test_one_node_per_operation_wired_to_its_inputs_and_output() -> None:
    out = expression()
    source = draw_dot(out).source
    ops = dict(OP_NODE.findall(source))
    assert sorted(ops.values()) == sorted(n._op for n in out._topo_order() if n._op) == ["*", "+", "tanh"]
    for name in ops:
        assert f"{name}_op -> {name}" in source


def test_records_of_the_seed_expression() -> None:
    a, b = Value(-4.0, label="a"), Value(2.0, label="b")
    g = (a * b + b**3).relu() / 2.0
    g.backward()
    source = draw_dot(g).source
    nodes = g._topo_order()
    assert len(RECORD.findall(source)) == len(nodes)
    assert len(OP_NODE.findall(source)) == sum(1 for n in nodes if n._op)


def test_same_graph_twice_gives_identical_source() -> None:
    assert draw_dot(expression()).source == draw_dot(expression()).source


def test_record_special_characters_are_escaped() -> None:
    v = Value(1.0, label='a{b}|c<d>"e')
    source = draw_dot(v).source
    assert r"a\{b\}\|c\<d\>\"e" in source


def test_rankdir() -> None:
    assert "rankdir=TB" in draw_dot(expression(), rankdir="TB").source
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(expression(), rankdir="XY")


# -------------------------------------------------------------------------- render


def test_render_svg_with_dot(dot_program: str, tmp_path: Path) -> None:
    out = expression()
    weird = Value(1.0, label='x{}|<>"') * out
    written = render(draw_dot(weird), tmp_path / "graph.svg")
    assert written == tmp_path / "graph.svg"
    svg = written.read_text()
    assert "<svg" in svg
    assert "tanh" in svg
    assert "x{}|&lt;&gt;&quot;" in svg  # the escaped label came through as text, not record syntax
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.svg"]  # no DOT source left behind


def test_render_without_dot_explains_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(RuntimeError, match="install graphviz") as caught:
        render(draw_dot(expression()), tmp_path / "graph.svg")
    assert str(caught.value) == INSTALL_GRAPHVIZ
    assert "apt-get install graphviz" in str(caught.value)


# ------------------------------------------------------------------------- figures


def assert_saves_png(fig: Figure, path: Path) -> None:
    fig.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000


def test_plot_decision_boundary(tmp_path: Path) -> None:
    random.seed(1337)
    X, y = make_moons(40, 0.1, 1337)
    model = MLP(2, [8, 1])
    fit(model, X, y, steps=10)
    fig = plot_decision_boundary(model, X, y)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_title() == "Decision boundary"
    assert len(ax.collections) >= 2  # the filled regions and the points
    assert_saves_png(fig, tmp_path / "boundary.png")


def test_plot_history(tmp_path: Path) -> None:
    history = History(loss=[0.9, 0.5, 0.2, 0.05], accuracy=[0.5, 0.7, 0.9, 1.0])
    fig = plot_history(history)
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log"
    assert list(loss_ax.lines[0].get_ydata()) == history.loss
    assert list(acc_ax.lines[0].get_ydata()) == history.accuracy
    assert_saves_png(fig, tmp_path / "history.png")
