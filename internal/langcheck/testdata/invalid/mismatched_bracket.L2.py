values = [1, 2, 3]
pairs = {(a, b] for a in values for b in values}
