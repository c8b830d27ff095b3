"""The REST door: the original Flask API's routes, each a parse, one service call, a render."""
