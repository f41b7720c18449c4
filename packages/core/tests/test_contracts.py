"""Core's own components proven against the contract kit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hooklab.testing import tiny_model
from hooklab.testing.contracts import AdapterContract, SourceContract


class _FileSource(SourceContract):
    columns = ("prompt", "chosen", "rejected")
    suffix = ".jsonl"

    def make(self, **overrides: Any) -> Any:
        import tempfile

        import pandas as pd

        rows = [{"prompt": "p", "chosen": "c", "rejected": "r"}] * 3
        path = Path(tempfile.mkdtemp()) / f"d{self.suffix}"
        if self.suffix == ".jsonl":
            path.write_text("\n".join(json.dumps(r) for r in rows))
        elif self.suffix == ".json":
            path.write_text(json.dumps(rows))
        elif self.suffix == ".parquet":
            pd.DataFrame(rows).to_parquet(path)
        else:
            pd.DataFrame(rows).to_csv(path, index=False)
        return super().make(path=str(path), **overrides)


class TestJsonlSource(_FileSource):
    name = "jsonl"


class TestJsonSource(_FileSource):
    name, suffix = "json", ".json"


class TestParquetSource(_FileSource):
    name, suffix = "parquet", ".parquet"


class TestCsvSource(_FileSource):
    name, suffix = "csv", ".csv"


class TestOptAdapter(AdapterContract):
    name = "opt"

    def build_model(self) -> Any:
        return tiny_model("opt")
