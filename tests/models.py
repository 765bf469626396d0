"""Build `.net` texts for the ground-truth rows (widths are listed output side first)."""
from __future__ import annotations

import json
from pathlib import Path

GROUND_TRUTH = json.loads((Path(__file__).parent / "data" / "ground_truth.json").read_text())


def layers_text(widths_output_first, relu=False, bias=False, output_bias=False) -> str:
    widths = list(reversed(widths_output_first))
    text = f"layers {widths[0]}"
    last = len(widths) - 2
    for k, width in enumerate(widths[1:]):
        hidden = k < last
        flags = (" relu" if relu and hidden else "") + (" bias" if (bias and hidden) or
                                                          (output_bias and not hidden) else "")
        text += f" -> {width}{flags}"
    return text


def product_text(n: int) -> str:
    names = [f"x{i}" for i in range(1, n + 1)]
    return f"param {', '.join(names)}\noutput {'*'.join(names)}"


def attention_text(q, k, v, o, tokens: int = 2) -> str:
    d = q[0]
    return (f"input X[{tokens},{d}]\n"
            f"param Q[{q[0]},{q[1]}], K[{k[0]},{k[1]}], V[{v[0]},{v[1]}], O[{o[0]},{o[1]}]\n"
            "A = softmax(X @ Q @ K.T @ X.T)\n"
            "output A @ X @ V @ O.T")


def model_text(row: dict) -> str:
    kind = row["kind"]
    if kind == "product":
        return product_text(row["n"])
    if kind == "attention":
        return attention_text(row["Q"], row["K"], row["V"], row["O"])
    return layers_text(row["widths_output_first"], relu=kind == "relu",
                       bias=row.get("bias", False), output_bias=row.get("output_bias", False))


def gradient_rows(prefixes=None):
    rows = [r for r in GROUND_TRUTH if r["flow"] == "gradient"]
    if prefixes is not None:
        rows = [r for r in rows if str(r["id"]).startswith(prefixes)]
    return rows


def _table_rows(section_title: str) -> list[list[str]]:
    """Rows of the first table after a heading of ground_truth.md."""
    text = (Path(__file__).parent / "data" / "ground_truth.md").read_text()
    body = text[text.index(section_title):]
    rows = []
    for line in body.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---") and not line.startswith("| i "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def sweep_field_counts() -> dict[str, int]:
    """Sweep id -> d, the number of generator fields the reference builds (its column 'd')."""
    counts = {}
    for prefix, title, column in (("C1", "### Part C, first loop", 3), ("C2", "### Part C, second loop", 3),
                                  ("D1", "### Part D, first loop", 4), ("D2", "### Part D, second loop", 3)):
        for cells in _table_rows(title):
            counts[f"{prefix}.{int(cells[0]):02d}"] = int(cells[column])
    return counts


def nmf_text(u, v) -> str:
    return f"param U[{u[0]},{u[1]}], V[{v[0]},{v[1]}]\noutput U @ V\nflow gradient mirror U, V"


def icnn_text(u, v, bias, flow="gradient") -> str:
    n1, n2 = u
    n3 = v[1]
    return (f"input x[{n3}]\nparam U[{n1},{n2}], V[{n2},{n3}]" + (f", b[{n2}]" if bias else "")
            + "\noutput U @ relu(V @ x" + (" + b" if bias else "") + f")\nflow {flow} mirror U")
