"""`python -m micrograd.demo` writes its files, with and without Graphviz's `dot` (short runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from micrograd import demo
from micrograd.viz import INSTALL_GRAPHVIZ


def test_neuron_graph_is_labelled_and_backpropagated() -> None:
    out = demo.neuron_graph()
    labels = {node.label for node in out._topo_order()}
    assert {"x1", "x2", "w1", "w2", "b", "w1 * x1", "out"} <= labels
    assert "" not in labels
    assert out.grad == 1.0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_demo_writes_plots_and_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main([str(tmp_path), "--steps", "2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "decision_boundary.png",
        "neuron_graph.svg",
        "training_curves.png",
    ]
    printed = capsys.readouterr().out
    assert "step   0   loss 0.8958" in printed
    assert str(tmp_path.resolve()) in printed


def test_demo_without_dot_writes_dot_text_and_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    outdir = tmp_path / "out"
    assert demo.main([str(outdir), "--steps", "1"]) == 0
    assert sorted(p.name for p in outdir.iterdir()) == [
        "decision_boundary.png",
        "neuron_graph.dot",
        "training_curves.png",
    ]
    assert (outdir / "neuron_graph.dot").read_text().startswith("digraph {")
    assert INSTALL_GRAPHVIZ in capsys.readouterr().err
