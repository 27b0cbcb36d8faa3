#!/usr/bin/env python3
"""Checks an llmc weight store against docs/FORMAT.md using only pyarrow, numpy and zlib.

An independent reader: if llmc and this script disagree, the format document decides.

  check_store_pyarrow.py STORE [--safetensors SRC] [--compression none|zstd]

Asserts the column names and Arrow types of the store's format version, the metadata keys, one row
group per tensor, no statistics or dictionary on the byte columns, every tensor's byte counts and
CRC-32, and (with --safetensors) that each dense tensor's weight_data decodes with numpy to the
source's values. Exits 0 when everything holds, 1 with a message otherwise.
"""
import argparse
import json
import struct
import sys
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

V1_COLUMNS = [
    ("layer_name", pa.string()),
    ("weight_name", pa.string()),
    ("shape", pa.list_(pa.int64())),
    ("dtype", pa.string()),
    ("weight_data", pa.binary()),
    ("checksum", pa.uint32()),
]
V2_COLUMNS = V1_COLUMNS + [
    ("quant_type", pa.string()),
    ("bits", pa.int32()),
    ("group_size", pa.int32()),
    ("quant_axis", pa.int32()),
    ("grid", pa.string()),
    ("scales", pa.binary()),
    ("zero_points", pa.binary()),
    ("packing_format", pa.string()),
]
BYTE_COLUMNS = ("weight_data", "scales", "zero_points")
DENSE_NUMPY = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2"), "bf16": np.dtype("<u2")}


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def same_type(found, expected):
    if pa.types.is_list(expected):
        return pa.types.is_list(found) and found.value_type == expected.value_type
    return found == expected


def check_metadata(meta):
    require(meta is not None, "no key-value metadata")
    meta = {k.decode(): v.decode() for k, v in meta.items()}
    require(meta.get("llmc.format") == "llmc-weights", f"llmc.format is {meta.get('llmc.format')!r}")
    version = meta.get("llmc.format_version", "")
    require(version in ("1.0", "2.0"), f"llmc.format_version is {version!r}")
    for key in ("llmc.model_config", "llmc.tokenizer", "llmc.extra"):
        require(key in meta, f"metadata key {key} missing")
        json.loads(meta[key])
    require("architecture" in json.loads(meta["llmc.model_config"]), "model config lacks 'architecture'")
    return int(version.split(".")[0])


def check_schema(schema, version):
    expected = V1_COLUMNS if version == 1 else V2_COLUMNS
    require(schema.names == [name for name, _ in expected],
            f"columns {schema.names} (expected {[name for name, _ in expected]})")
    for name, typ in expected:
        found = schema.field(name).type
        require(same_type(found, typ), f"column {name} has type {found} (expected {typ})")


def check_layout(pf, compression):
    md = pf.metadata
    require(md.num_row_groups == md.num_rows, f"{md.num_row_groups} row groups for {md.num_rows} tensors")
    names = pf.schema_arrow.names
    for rg in range(md.num_row_groups):
        group = md.row_group(rg)
        require(group.num_rows == 1, f"row group {rg} holds {group.num_rows} rows")
        for c in range(group.num_columns):
            col = group.column(c)
            require(not col.has_dictionary_page, f"row group {rg} column {names[c]} is dictionary encoded")
            require(col.compression == compression, f"column {names[c]} compression {col.compression}")
            if col.path_in_schema in BYTE_COLUMNS:
                require(not col.is_stats_set, f"row group {rg} column {col.path_in_schema} carries statistics")


def expected_bytes(row):
    shape = row["shape"]
    cols = shape[-1] if shape else 1
    numel = int(np.prod(shape)) if shape else 1
    rows = numel // cols if cols else 0
    if row["dtype"] != "u8":
        return rows * cols * DENSE_NUMPY[row["dtype"]].itemsize, 0, 0
    groups = -(-cols // row["group_size"])
    zeros = rows * groups if row["grid"] == "asym" else 0
    return rows * ((cols * row["bits"] + 7) // 8), rows * groups * 2, zeros


def check_rows(table, version):
    for row in table.to_pylist():
        name = f"{row['layer_name']}.{row['weight_name']}" if row["layer_name"] else row["weight_name"]
        scales = row.get("scales") or b""
        zeros = row.get("zero_points") or b""
        if version == 2:
            require((row["dtype"] == "u8") == (row["quant_type"] != "none"), f"{name}: dtype/quant_type disagree")
            if row["dtype"] == "u8":
                require(row["quant_type"] == f"int{row['bits']}", f"{name}: quant_type {row['quant_type']}")
                require(row["quant_axis"] == 1, f"{name}: quant_axis {row['quant_axis']}")
                require(row["packing_format"] == "lsb_bitstream_row_aligned", f"{name}: packing {row['packing_format']}")
                require(row["grid"] in ("signed", "asym", "sym_half"), f"{name}: grid {row['grid']}")
        else:
            require(row["dtype"] in DENSE_NUMPY, f"{name}: dtype {row['dtype']} in a V1 store")
        want = expected_bytes(row)
        got = (len(row["weight_data"]), len(scales), len(zeros))
        require(got == want, f"{name}: byte counts {got} (expected {want})")
        crc = zlib.crc32(zeros, zlib.crc32(scales, zlib.crc32(row["weight_data"])))
        require(crc == row["checksum"], f"{name}: CRC-32 {crc:08x} but checksum column says {row['checksum']:08x}")


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = f.read()
    header.pop("__metadata__", None)
    return header, body


def as_float32(raw, dtype):
    values = np.frombuffer(raw, dtype=DENSE_NUMPY[dtype])
    if dtype == "bf16":
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float32)


def check_against_safetensors(table, path):
    header, body = read_safetensors(path)
    st_types = {"F32": "f32", "F16": "f16", "BF16": "bf16"}
    compared = 0
    for row in table.to_pylist():
        name = f"{row['layer_name']}.{row['weight_name']}" if row["layer_name"] else row["weight_name"]
        if name not in header or row["dtype"] not in DENSE_NUMPY:
            continue
        info = header[name]
        begin, end = info["data_offsets"]
        source = as_float32(body[begin:end], st_types[info["dtype"]])
        if row["dtype"] == "f16" and info["dtype"] == "F32":
            source = source.astype(np.float16).astype(np.float32)  # numpy rounds to nearest even too
        elif row["dtype"] != "f32" and row["dtype"] != st_types[info["dtype"]]:
            continue  # numpy has no bfloat16 rounding to compare with
        require(list(info["shape"]) == row["shape"], f"{name}: shape {row['shape']} vs source {info['shape']}")
        got = as_float32(row["weight_data"], row["dtype"])
        require(np.array_equal(got, source, equal_nan=True), f"{name}: values differ from the source")
        compared += 1
    require(compared > 0, "no tensor of the store is in the safetensors file")
    return compared


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--safetensors", help="source file whose dense tensors the store must reproduce")
    ap.add_argument("--compression", default="none", choices=["none", "zstd"])
    args = ap.parse_args()
    try:
        pf = pq.ParquetFile(args.store)
        version = check_metadata(pf.metadata.metadata)
        check_schema(pf.schema_arrow, version)
        check_layout(pf, "UNCOMPRESSED" if args.compression == "none" else "ZSTD")
        table = pf.read()
        check_rows(table, version)
        compared = check_against_safetensors(table, args.safetensors) if args.safetensors else 0
    except CheckFailed as e:
        print(f"check_store_pyarrow: {args.store}: {e}", file=sys.stderr)
        return 1
    print(f"{args.store}: format {version}.0, {pf.metadata.num_rows} tensors, "
          f"{compared} compared with the source: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
