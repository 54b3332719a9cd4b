def total(items):
    s = 0
    for it in items:
        if it > 0:
            s += it
        else:
            s -= 1
      return s
