import json


data = json.dumps({"a": 1,
                   "b": [1, 2, 3]}
print(data)
