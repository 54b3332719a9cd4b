for i in range(3):
    if i % 2:
    print(i)
