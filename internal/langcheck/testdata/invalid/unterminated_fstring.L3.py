def greet(name: str) -> None:
    count = len(name)
    print(f"Hello {name}, you have {count} letters)
    return None
