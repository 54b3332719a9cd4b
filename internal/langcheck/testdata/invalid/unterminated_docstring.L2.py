def f():
    """Docstring that never ends.
    return 1


def g():
    return 2
