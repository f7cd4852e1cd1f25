"""The README's examples, run as written against a real arbiterd (a doc test): every ```python
block of clients/python/README.md is executed with the server's address in place of
127.0.0.1:50051, in a folder holding the files the examples name (data-product.yaml,
contracts/orders.yaml, released/..., policies-candidate/). A line `expression  # literal` is
also checked: the expression must equal the literal, as the README claims."""

from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

from conftest import POLICIES, start_arbiterd

README = Path(__file__).resolve().parents[1] / "README.md"
CLAIM = re.compile(r"^(\s*)([^#=]+?)\s+#\s*(.+)$")


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _with_claims_checked(code: str) -> str:
    """Turns each `expression  # literal` line into an assert of what the comment claims."""
    out = []
    for line in code.splitlines():
        m = CLAIM.match(line)
        if m:
            indent, expr, comment = m.groups()
            try:
                want = ast.literal_eval(comment.strip())
                ast.parse(expr.strip(), mode="eval")
            except (ValueError, SyntaxError):
                out.append(line)
                continue
            out.append(f"{indent}assert ({expr.strip()}) == {want!r}, "
                       f"({expr.strip()!r}, {expr.strip()})")
            continue
        out.append(line)
    return "\n".join(out)


def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    blocks = _blocks()
    assert blocks, "no ```python example in the README"
    catalog = POLICIES / "catalog"
    product = catalog / "products/customer-transactions.yaml"
    contract = catalog / "contracts/customer-transactions-contract.yaml"
    (tmp_path / "contracts").mkdir()
    (tmp_path / "released").mkdir()
    shutil.copy(product, tmp_path / "data-product.yaml")
    shutil.copy(contract, tmp_path / "contracts/orders.yaml")
    shutil.copy(product, tmp_path / "released/data-product.yaml")
    shutil.copy(contract, tmp_path / "released/orders.yaml")
    shutil.copytree(POLICIES, tmp_path / "policies-candidate")
    config = tmp_path / "arbiterd.yaml"
    config.write_text("authz:\n  anonymous_role: governance\n"
                      f"decision_log:\n  path: {tmp_path / 'decisions.jsonl'}\n")
    with start_arbiterd(["--config", str(config)]) as target:
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            for i, code in enumerate(blocks):
                code = _with_claims_checked(code.replace("127.0.0.1:50051", target))
                exec(compile(code, f"{README.name}, python example {i + 1}", "exec"), {})
        finally:
            os.chdir(cwd)
