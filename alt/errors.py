"""One exception family for alt. Messages name the object, the bad value and what would be right."""


class AltError(Exception):
    """Base class of every error alt raises on bad input."""


class ComputeError(AltError, ValueError):
    """A tensor expression or compute definition is malformed."""


class ScheduleError(AltError, ValueError):
    """A schedule primitive was applied where it is not legal."""


class BuildError(AltError, RuntimeError):
    """Lowering, rendering or compiling a kernel failed."""


class ArgumentError(AltError, TypeError):
    """A built kernel was called with arrays of the wrong shape, dtype or memory order."""


class WorkloadError(AltError, ValueError):
    """An unknown workload or operator, or a user operator the tuner cannot find again by name."""


class OptionError(AltError, ValueError):
    """An option of the tuner, an experiment or the command line has a value that is not allowed."""


def check_counts(what, optional=(), **counts):
    """Raise OptionError "`what`: name=value; give a whole number >= least" for the first of
    `counts` {name: (value, least)} that is not a whole number (bools refused) that large; a name
    in `optional` may also be None (its default)."""
    import numbers
    for name, (value, least) in counts.items():
        if value is None and name in optional:
            continue
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:
            raise OptionError(f"{what}: {name}={value!r}; give a whole number >= {least}")
