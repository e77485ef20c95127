"""Explicit schemas from config: column -> Spark SQL type name, parsed without a JVM."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyspark.sql import types as T

_SIMPLE: dict[str, T.DataType] = {
    "string": T.StringType(),
    "boolean": T.BooleanType(),
    "tinyint": T.ByteType(),
    "smallint": T.ShortType(),
    "int": T.IntegerType(),
    "integer": T.IntegerType(),
    "bigint": T.LongType(),
    "long": T.LongType(),
    "float": T.FloatType(),
    "double": T.DoubleType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
    "binary": T.BinaryType(),
}
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def parse_type(name: str) -> T.DataType:
    """'bigint' -> LongType(), 'decimal(15,2)' -> DecimalType(15, 2); ValueError for anything else."""
    text = name.strip().lower()
    if text in _SIMPLE:
        return _SIMPLE[text]
    decimal = _DECIMAL.match(text)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        if 1 <= precision <= 38 and scale <= precision:
            return T.DecimalType(precision, scale)
    if text.startswith("decimal(") and ")" not in text:
        raise ValueError(f"unknown column type {name!r}: inside {{...}} YAML splits at the comma, so quote it: 'decimal(p,s)'")
    known = ", ".join([*_SIMPLE, "decimal(p,s)"])
    raise ValueError(f"unknown column type {name!r} (known: {known})")


def struct(columns: Mapping[str, str]) -> T.StructType:
    return T.StructType([T.StructField(column, parse_type(kind), True) for column, kind in columns.items()])


def describe(schema: T.StructType) -> str:
    """'a bigint, b string' — for messages that compare schemas."""
    return ", ".join(f"{field.name} {field.dataType.simpleString()}" for field in schema.fields)


def nullable(data_type: T.DataType) -> T.DataType:
    """The type with every element, value and field inside it admitting nulls (as a Hive table's do)."""
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(nullable(data_type.elementType), True)
    if isinstance(data_type, T.MapType):
        return T.MapType(nullable(data_type.keyType), nullable(data_type.valueType), True)
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, nullable(f.dataType), True) for f in data_type.fields])
    return data_type
