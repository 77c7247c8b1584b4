"""The scalar types alt knows, with their numpy and C spellings."""
import numpy as np

from .errors import ComputeError

# name -> (numpy dtype, C type)
_TYPES = {
    "float32": (np.float32, "float"),
    "float64": (np.float64, "double"),
    "int32": (np.int32, "int32_t"),
    "int64": (np.int64, "int64_t"),
    "bool": (np.bool_, "bool"),
}
USER_DTYPES = ("float32", "float64", "int32", "int64")


def check_dtype(dtype, what):
    """Normalise a dtype given by a user (str or numpy dtype) and reject unknown ones."""
    try:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    except (TypeError, ValueError):
        name = None  # not a dtype at all (an expression given where the dtype goes, say)
    if name not in USER_DTYPES:
        raise ComputeError(f"{what}: dtype {dtype!r} is not supported; use one of {', '.join(USER_DTYPES)}")
    return name


def to_numpy(dtype):
    return np.dtype(_TYPES[dtype][0])


def to_c(dtype):
    return _TYPES[dtype][1]


def is_float(dtype):
    return dtype in ("float32", "float64")


def is_int(dtype):
    return dtype in ("int32", "int64")
