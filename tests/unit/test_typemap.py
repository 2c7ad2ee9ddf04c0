"""typemap: names, annotations and snippets decided from the model alone (no emcc)."""

from __future__ import annotations

from embind_py import model as m
from embind_py import typemap


def fn(name: str, result: m.CType, *params: tuple[str, m.CType]) -> m.Function:
    ft = m.FunctionType(result, tuple(m.Param(n, t) for n, t in params))
    return m.Function(name, ft, f"{name}(...)", "x.h", 1)


def test_names_avoid_keywords_and_reserved() -> None:
    assert typemap.func_name("lambda") == "lambda_"
    assert typemap.func_name("load") == "load_"
    assert typemap.func_name("ffi") == "ffi_"
    assert typemap.func_name("malloc") == "malloc_"  # an Instance method
    assert typemap.func_name("compress") == "compress"
    assert typemap.param_name("from") == "from_"
    assert typemap.param_name("self") == "self_"
    assert typemap.param_name("_s0") == "_s0_"
    assert typemap.param_name("len") == "len"


def test_scalar_signature_and_results() -> None:
    lib = m.Library()
    spec = typemap.function_spec(
        fn("mix", m.ULONGLONG, ("a", m.UCHAR), ("b", m.NamedType("int64_t", m.LONGLONG)), ("f", m.FLOAT)), lib
    )
    assert (spec.wasm_params, spec.wasm_results) == ("iIf", "I")
    assert spec.returns == "int"
    assert spec.result == "_s0.i64 & 0xFFFFFFFFFFFFFFFF"
    assert [p.annotation for p in spec.params] == ["int", "int", "float"]
    assert "0 <= a <= 255" in spec.params[0].check[0]
    assert not spec.temporaries


def test_pointer_parameters_use_temporaries() -> None:
    lib = m.Library()
    spec = typemap.function_spec(
        fn("greet", m.PointerType(m.CHAR, const=True), ("name", m.PointerType(m.CHAR, const=True))), lib
    )
    assert spec.returns == "str | None"
    assert spec.params[0].annotation == "_rt.CharPtrArg"
    assert spec.temporaries
    assert "False" in spec.params[0].store[0]  # const: no copy-back


def test_small_int_results_are_narrowed() -> None:
    lib = m.Library()
    _, expr = typemap.result_spec(m.SCHAR, lib)
    s0 = type("S", (), {"i32": 200})()
    assert eval(expr, {"_s0": s0}) == -56
    _, expr = typemap.result_spec(m.USHORT, lib)
    s0.i32 = -1
    assert eval(expr, {"_s0": s0}) == 0xFFFF


def test_unsupported_becomes_a_warning() -> None:
    lib = m.Library(functions=(fn("v", m.INT, ("x", m.INT)),))
    takes = m.FunctionType(m.VOID, (m.Param("f", m.PointerType(m.FunctionType(m.INT, (), True))),))
    variadic = m.Function("pf", takes, "void pf(int (*f)(...))", "x.h", 7)
    lib = m.Library(functions=(*lib.functions, variadic))
    mapped = typemap.map_library(lib)
    assert [f.name for f in mapped.functions] == ["v"]
    assert [(d.line, d.severity) for d in mapped.diagnostics] == [(7, "warning")]
    assert "pf" in mapped.diagnostics[0].message


def test_constant_literals() -> None:
    assert typemap.constant_literal(16) == ("int", "16")
    assert typemap.constant_literal(0.5) == ("float", "0.5")
    assert typemap.constant_literal("1.2") == ("str", "'1.2'")


def test_wasm_abi_lowering() -> None:
    rec = m.Record(
        "struct", "P", (m.Field("x", m.DOUBLE, 0), m.Field("y", m.DOUBLE, 8)), 16, 8, False, "P", "x.h", 1
    )
    one = m.Record("struct", "W", (m.Field("v", m.FLOAT, 0),), 4, 4, False, "W", "x.h", 2)
    records = {"P": rec, "W": one}
    ft = m.FunctionType(m.RecordRef("struct", "P"), (m.Param("a", m.RecordRef("struct", "P")),))
    assert m.wasm_signature(ft, records) == (("i32", "i32"), ())
    ft2 = m.FunctionType(m.RecordRef("struct", "W"), (m.Param("a", m.RecordRef("struct", "W")),))
    assert m.wasm_signature(ft2, records) == (("f32",), ("f32",))


def test_dunder_order_matches_ruff() -> None:
    # What `ruff check --select RUF022,RUF023 --fix` (ruff 0.17) produces from these names.
    from embind_py.typemap import all_key, natural_key

    def all_sorted(names: list[str]) -> list[str]:
        return sorted(names, key=all_key)

    def natural_sorted(names: list[str]) -> list[str]:
        return sorted(names, key=natural_key)

    names = ["L", "AB", "Ab", "_X", "_x", "x01", "x1", "x001", "x0", "x", "é", "z", "ÀB", "XXH64", "XXH3_A"]
    assert all_sorted(names) == [
        "AB", "XXH3_A", "XXH64", "_X", "ÀB", "Ab", "L", "_x", "x", "x0", "x001", "x01", "x1", "z", "é",
    ]
    assert natural_sorted(["AB", "Ab", "L", "XY", "b", "_X", "f10", "f2"]) == [
        "AB", "Ab", "L", "XY", "_X", "b", "f2", "f10",
    ]


def test_instance_names_list_every_attribute_of_the_runtime_instance() -> None:
    """typemap keeps a plain list (the build side never imports the runtime): it must name
    every attribute an Instance has, or a C function could be bound over one."""
    import wasmtime

    from embind_py.runtime import Instance

    wasm = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "_initialize")))'))
    inst = Instance(wasm)
    inst._bind_vars({})  # what a module with C globals calls (it sets `_vars`)
    have = {n for n in dir(Instance) if not n.startswith("__")} | set(vars(inst))
    have |= set(getattr(Instance, "__annotations__", {}))
    missing = sorted(have - set(typemap.INSTANCE_NAMES))
    extra = sorted(set(typemap.INSTANCE_NAMES) - have)
    assert not missing and not extra, f"update typemap.INSTANCE_NAMES: add {missing}, remove {extra}"


def test_c_names_never_meet_instance_attributes_or_callers() -> None:
    names_in_c = ("_lock", "_top", "print", "_v_print")
    lib = m.Library(functions=tuple(fn(n, m.INT) for n in names_in_c))
    names = [f.name for f in typemap.map_library(lib).functions]
    assert names == ["_lock_", "_top_", "print", "_v_print_"]


def test_typemap_keeps_no_module_state() -> None:
    ft = m.FunctionType(m.INT, (m.Param("x", m.INT),))
    cb = m.PointerType(ft)
    lib = m.Library(functions=(fn("take", m.VOID, ("f", cb)),))
    a = typemap.map_library(lib)
    b = typemap.map_library(m.Library(functions=(fn("other", m.INT),)))
    assert typemap.fn_types(a.scope) and not typemap.fn_types(b.scope)
    mutable = [
        k
        for k, v in vars(typemap).items()
        if isinstance(v, dict | set | list) and not k.startswith("__") and not k.lstrip("_").isupper()
    ]
    assert not mutable  # constant tables only (UPPER_CASE), never state
