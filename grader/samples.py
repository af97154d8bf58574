"""The embedded sample class, built from the reference and the skeleton.

Each buggy student is the reference with one plausible mistake (a text edit
that must apply exactly once, so the class cannot silently drift from the
reference). Hostile and broken submissions show that a bad entry costs only
what it affects. `nox -s grade` grades this class; tests/ pin every score.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "micrograd"
SKELETON = ROOT / "student" / "micrograd"
PACKAGE_FILES = ("__init__.py", "engine.py", "nn.py", "train.py")


@dataclass(frozen=True)
class Mutant:
    student: str
    file: str
    old: str
    new: str
    bug: str


MUTANTS = [
    Mutant("chloe", "engine.py", "self.grad += (1.0 - out.data * out.data) * out.grad",
           "self.grad += (1.0 - self.data * self.data) * out.grad",
           "tanh's derivative uses the input x instead of the output t"),
    Mutant("dev", "engine.py", "            self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
           "            self.grad = other.data * out.grad\n            other.grad = self.data * out.grad",
           "`=` instead of `+=` in multiplication's backward rule"),
    Mutant("emma", "engine.py",
           "        for node in reversed(order):\n            if node._rule is not None:\n                node._rule(node)",
           "        queue = [self]\n        while queue:  # breadth-first, not topological\n            node = queue.pop(0)\n"
           "            if node._rule is not None:\n                node._rule(node)\n            queue.extend(node._prev)",
           "backward() walks the graph breadth-first instead of in topological order"),
    Mutant("farid", "engine.py", "self.grad += n * self.data ** (n - 1) * out.grad",
           "self.grad += n * self.data**n * out.grad", "the power rule keeps the exponent n instead of n - 1"),
    Mutant("gia", "nn.py", "        return self.w + [self.b]", "        return self.w",
           "a neuron without its bias in parameters()"),
    Mutant("hugo", "engine.py", "            if out.data > 0:\n                self.grad += out.grad",
           "            if out.data <= 0:\n                self.grad += out.grad", "relu's gradient inverted"),
]  # fmt: skip

CHEAT_ENGINE = '''"""A hostile submission: it computes nothing and tries to fool the grader."""
import builtins, json, math, os, sys

builtins.abs = lambda x: 0.0
math.isclose = lambda *a, **k: True
print(json.dumps({"score": 100, "tests": [], "status": "passed", "id": "p0", "result": {"data": [0.0]}}))
sys.stdout.write('{"ready": true}\\n{"id": "1.1/public/0", "result": {"data": [2.0, -3.0, -1.0]}}\\n')
for path in ("/work", "../../reference/micrograd/engine.py", "/etc/passwd", os.path.expanduser("~")):
    try:
        os.listdir(path) if not path.endswith(".py") else open(path).read()
        print("could read", path)
    except Exception as exc:
        print("blocked:", path, type(exc).__name__)
try:
    import subprocess
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
    print("started a daemon")
except Exception as exc:
    print("blocked: subprocess", type(exc).__name__)


class Value:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data, self.grad, self._prev, self._op = 0.0, 0.0, tuple(_children), _op

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__

    def _any(self, *args):
        return Value(0.0, (self,))

    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __truediv__ = __rtruediv__ = __pow__ = _any
    exp = log = tanh = sigmoid = relu = __neg__ = _any

    def backward(self):
        pass

    def _topo_order(self):
        return []

    def _backward(self):
        pass
'''

CHEAT_NN = '''"""Hostile: modules that claim anything and compute nothing."""
from micrograd.engine import Value


class _Liar(list):
    def __len__(self):
        return 337

    def __eq__(self, other):
        return True


class Module:
    def zero_grad(self):
        pass

    def parameters(self):
        return _Liar()


class Neuron(Module):
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, x):
        return Value(0.0)


Layer = MLP = Neuron
'''

CHEAT_TRAIN = '''"""Hostile: training functions that return whatever looks good."""
from micrograd.engine import Value


def svm_loss(scores, ys):
    return Value(0.0)


mse_loss = svm_loss


def l2_penalty(params, alpha):
    return Value(0.0)


def learning_rate(step, total, start=1.0, end=0.1):
    return 0.0


def sgd_step(params, lr):
    pass


def accuracy(scores, ys):
    return 1.0
'''

EXIT_NN = "from micrograd.engine import Value\n\nimport os\n\nos._exit(3)  # kills the process while it is being imported\n"


def _copy_package(src: Path, dest: Path) -> None:
    (dest / "micrograd").mkdir(parents=True, exist_ok=True)
    for name in PACKAGE_FILES:
        shutil.copyfile(src / name, dest / "micrograd" / name)


def package_with(parent: Path, name: str, engine_suffix: str = "", source: Path = REFERENCE) -> Path:
    """`parent/name/micrograd/`: a copy of `source` whose engine.py also runs `engine_suffix` when
    imported (the hostile and odd submissions of the boundary and isolation tests). Returns `parent/name`."""
    root = parent / name
    _copy_package(source, root)
    if engine_suffix:
        engine = root / "micrograd" / "engine.py"
        engine.write_text(engine.read_text(encoding="utf-8") + "\n" + engine_suffix + "\n", encoding="utf-8")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise RuntimeError(f"sample class: {old!r} occurs {text.count(old)} times in {path}, not once")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def build_sample_class(out: Path) -> Path:
    """Write the sample class into `out` (replacing it) and return `out`."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _copy_package(REFERENCE, out / "ada")  # the reference: full marks
    _copy_package(SKELETON, out / "ben")  # the untouched skeleton: zero
    for m in MUTANTS:
        _copy_package(REFERENCE, out / m.student)
        _edit(out / m.student / "micrograd" / m.file, m.old, m.new)
    # Hostile and broken submissions.
    _copy_package(REFERENCE, out / "ivan")
    for name, text in (("engine.py", CHEAT_ENGINE), ("nn.py", CHEAT_NN), ("train.py", CHEAT_TRAIN)):
        (out / "ivan" / "micrograd" / name).write_text(text, encoding="utf-8")
    _copy_package(REFERENCE, out / "jade")  # an endless loop in the topological sort
    _edit(out / "jade" / "micrograd" / "engine.py", "            node = stack.pop()\n", "            node = stack[-1]\n")
    _copy_package(REFERENCE, out / "kai")  # a syntax error
    _edit(out / "kai" / "micrograd" / "engine.py", "    def exp(self) -> Value:", "    def exp(self) -> Value\n")
    _copy_package(REFERENCE, out / "lena")  # os._exit at import time of nn.py
    _edit(out / "lena" / "micrograd" / "nn.py", "from micrograd.engine import Value\n", EXIT_NN)
    _copy_package(REFERENCE, out / "milo")  # train.py saved as Latin-1
    train = (REFERENCE / "train.py").read_text(encoding="utf-8")
    (out / "milo" / "micrograd" / "train.py").write_bytes(("# écrit par Milo\n" + train).encode("latin-1"))
    (out / "nora").mkdir()  # an empty folder
    with zipfile.ZipFile(out / "omar.zip", "w") as zf:  # the reference, zipped
        for name in PACKAGE_FILES:
            zf.write(REFERENCE / name, f"omar/micrograd/{name}")
    return out
