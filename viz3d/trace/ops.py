"""Names and categories of the tensor operations the tracer records between modules."""

from __future__ import annotations

from typing import Any

# Dunder methods whose plain name would read oddly in a layer list.
_DUNDER_NAMES = {
    "__add__": "add", "__radd__": "add", "__iadd__": "add_",
    "__sub__": "sub", "__rsub__": "sub", "__isub__": "sub_",
    "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul_",
    "__truediv__": "div", "__rtruediv__": "div", "__itruediv__": "div_",
    "__floordiv__": "floordiv", "__matmul__": "matmul", "__rmatmul__": "matmul",
    "__pow__": "pow", "__rpow__": "pow", "__neg__": "neg", "__getitem__": "getitem",
    "__setitem__": "setitem", "__and__": "and", "__or__": "or", "__invert__": "invert",
    "__eq__": "eq", "__ne__": "ne", "__lt__": "lt", "__le__": "le", "__gt__": "gt",
    "__ge__": "ge", "__mod__": "mod", "__abs__": "abs",
}

# Calls that never produce a tensor worth a node (metadata queries) are skipped up front, which
# keeps the tracer's per-call cost low on models that ask for shapes thousands of times.
SKIPPED = frozenset({
    "size", "dim", "numel", "__len__", "__bool__", "__int__", "__float__", "__index__", "item",
    "tolist", "data_ptr", "is_floating_point", "is_complex", "stride", "storage_offset",
    "is_contiguous", "element_size", "nelement", "ndimension", "get_device", "__format__",
    "__repr__", "__hash__", "__iter__", "__contains__", "__reversed__", "__array__", "numpy",
    "has_names", "requires_grad_", "retain_grad", "register_hook", "_is_view", "__reduce_ex__",
    "__deepcopy__", "__setstate__", "untyped_storage", "is_nonzero", "equal", "allclose",
    "shape", "dtype", "device", "is_cuda", "is_meta", "is_sparse", "layout", "ndim",
    "requires_grad", "grad_fn", "names", "is_leaf", "_version", "output_nr", "_base", "grad",
    "_cdata", "is_quantized", "is_mkldnn", "is_nested", "itemsize", "nbytes", "is_cpu",
    "is_xpu", "is_mps", "__dlpack__", "__dlpack_device__",
})

_CATEGORIES = {
    "arith": {
        "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "pow", "sqrt",
        "rsqrt", "exp", "log", "abs", "addcmul", "addcdiv", "floordiv", "mod", "clamp",
        "clamp_", "clip", "where", "lerp", "reciprocal", "square", "sin", "cos", "masked_fill",
        "masked_fill_", "fill_", "zero_", "copy_", "setitem", "eq", "ne", "lt", "le", "gt",
        "ge", "and", "or", "invert", "logical_not", "bitwise_and", "bitwise_or", "triu", "tril",
        "rsub", "maximum", "minimum", "round", "floor", "ceil", "sign", "baddbmm", "addmm",
        "cumsum", "scatter", "scatter_add", "index_add",
    },
    "matmul": {
        "matmul", "mm", "bmm", "einsum", "linear", "conv1d", "conv2d", "conv3d",
        "conv_transpose1d", "conv_transpose2d", "bilinear", "scaled_dot_product_attention",
        "multi_head_attention_forward", "embedding", "outer", "tensordot",
    },
    "activation": {
        "relu", "relu_", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "elu",
        "leaky_relu", "hardtanh", "softplus", "mish", "dropout", "glu", "hardswish", "selu",
        "celu", "prelu", "threshold",
    },
    "normalize": {
        "layer_norm", "batch_norm", "group_norm", "instance_norm", "normalize", "rms_norm",
    },
    "reduce": {
        "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "norm", "var", "std",
        "prod", "logsumexp", "topk", "sort", "any", "all", "max_pool2d", "avg_pool2d",
        "adaptive_avg_pool2d", "adaptive_avg_pool1d", "max_pool1d", "avg_pool1d",
    },
    "shape": {
        "view", "reshape", "permute", "transpose", "t", "T", "contiguous", "flatten",
        "unflatten", "squeeze", "unsqueeze", "expand", "expand_as", "repeat", "getitem", "split",
        "chunk", "cat", "concat", "stack", "unbind", "narrow", "select", "index_select",
        "gather", "to", "type", "float", "half", "bfloat16", "double", "long", "int", "bool",
        "clone", "detach", "view_as", "reshape_as", "movedim", "roll", "flip", "pad",
        "interpolate", "tile", "repeat_interleave", "type_as", "unfold", "broadcast_to", "cpu",
        "cuda", "masked_select", "split_with_sizes", "hsplit", "vsplit", "mT",
    },
    "create": {
        "arange", "zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like",
        "empty_like", "rand", "randn", "randint", "tensor", "as_tensor", "linspace",
        "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "eye", "finfo",
        "rand_like", "randn_like",
    },
}
_CATEGORY_OF = {name: cat for cat, names in _CATEGORIES.items() for name in names}


def op_name(func: Any) -> str:
    """A short, readable name for a function seen by ``__torch_function__``."""
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # a tensor property such as ``x.T`` or ``x.shape``
        return getattr(getattr(func, "__self__", None), "__name__", "get")
    return _DUNDER_NAMES.get(name, name)


def op_category(name: str) -> str:
    """The category the layout and colours group ops by (see ``viz3d.graph``)."""
    return _CATEGORY_OF.get(name, "other")


def is_inplace(name: str) -> bool:
    """In-place ops write into their first argument and may return ``None`` (``setitem``)."""
    return name == "setitem" or (name.endswith("_") and not name.startswith("_"))
