"""Core's own plugin: the built-in dataset sources, registered through the same hooks as any
third-party plugin. Importing this module imports nothing heavy."""

from __future__ import annotations

from typing import Any

from hooklab import hookimpl

_S = "hooklab.sources"


@hookimpl
def register_sources(register: Any) -> None:
    register("jsonl", f"{_S}:jsonl_source", config=f"{_S}:FileSourceConfig",
             description="JSON Lines files")
    register("json", f"{_S}:json_source", config=f"{_S}:JsonSourceConfig",
             description="a JSON list of records (or the list under `field`)")
    register("parquet", f"{_S}:parquet_source", config=f"{_S}:FileSourceConfig",
             description="Parquet files")
    register("csv", f"{_S}:csv_source", config=f"{_S}:CsvSourceConfig",
             description="CSV/TSV files with a header")
    register("text-folder", f"{_S}:text_folder_source", config=f"{_S}:TextFolderConfig",
             description="a folder of text files, one row per file")
    register("hf", f"{_S}:hf_source", config=f"{_S}:HFSourceConfig",
             description="Hugging Face datasets by name or local path")


@hookimpl
def register_adapters(register: Any) -> None:
    register("opt", "hooklab.adapters:opt_adapter", description="OPT: mlp -> fc2")
